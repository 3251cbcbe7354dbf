"""Loads the demo workspace into a new home, in the background, through the services."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from slipway.data import pack_folder

if TYPE_CHECKING:
    from slipway.services import Platform

__all__ = ["DEMO_ENDPOINT", "DEMO_MODEL", "DEMO_PREFIX", "load_demo", "load_demo_serving", "start_demo_loader"]

log = logging.getLogger("slipway.demo")
MARKER = "demo-loaded"
# Everything the demo creates is named demo-…, so that a user's own first `data push cancer`, `train --name
# cancer-lr` or `--register cancer` (the README tour, typed on what `make run` gives) gets version 1 of a name
# of their own instead of colliding with the demo or silently reusing its model.
DEMO_PREFIX = "demo-"
DEMO_MODEL = "demo-cancer"
DEMO_ENDPOINT = "demo-cancer"


DEMO_JOBS = {
    # name -> (algorithm, train dataset version, hyperparameters)
    "demo-cancer-lr": ("logistic-regression", "demo-cancer:1", {"C": 0.5}),
}


def load_demo(platform: Platform, user: str = "demo") -> list[str]:
    """Push every demo dataset (a no-op for ones already there: same bytes, same version), then start the
    demo training jobs; the jobs controller runs them in the background."""
    from slipway.demo import build_demo_files

    work = Path(tempfile.mkdtemp(prefix="demo-", dir=platform.tmp_dir))
    refs: list[str] = []
    try:
        for item in build_demo_files(work / "files"):
            spooled = work / f"{item.name}.upload"
            kind = "folder" if item.path.is_dir() else "file"
            if kind == "folder":
                with open(spooled, "wb") as out:
                    pack_folder(item.path, out)
            else:
                shutil.copyfile(item.path, spooled)
            result = platform.datasets.push(
                DEMO_PREFIX + item.name, spooled, filename=item.path.name, kind=kind, format=item.format,
                label=item.label, description=item.description, user=user,
            )
            refs.append(result.version.ref)
            if item.name == "cancer":
                refs += load_demo_serving(platform, item.path, result.version.ref, work, user)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    refs.extend(start_demo_jobs(platform, user))
    refs.extend(start_demo_tuning(platform, user))
    refs.extend(load_demo_monitoring(platform))
    refs.extend(load_demo_pipeline(platform))
    return refs


def start_demo_jobs(platform: Platform, user: str = "demo") -> list[str]:
    from slipway.errors import AlreadyExists
    from slipway.schemas import CreateJobRequest

    started = []
    for name, (algorithm, train, hps) in DEMO_JOBS.items():
        spec = CreateJobRequest(algorithm=algorithm, inputs={"train": train}, hyperparameters=hps,
                                validation_split=0.2)
        try:
            platform.training.create(name, spec, user=user)
        except AlreadyExists:
            pass
        started.append(f"job/{name}")
    return started


DEMO_TUNING = "demo-iris-tune"
DEMO_PIPELINE = "demo-retrain"
DEMO_MONITOR = "demo-cancer-drift"
DEMO_DRIFT_ALARM = "demo-cancer-drifting"
DEMO_CANARY_ALARMS = {  # name -> (metric, above): either, in ALARM during the bake, rolls the canary back
    "demo-cancer-errors": (f"endpoint/{DEMO_ENDPOINT}/error_rate", 0.05),
    "demo-cancer-p99": (f"endpoint/{DEMO_ENDPOINT}/p99_ms", 500.0),
}
EARLY_ROWS = 100  # the live demo model's training rows
DEMO_PIPELINE_DEFINITION = {
    "description": "Retrain when demo-cancer gets a new version or its endpoint drifts: split the data, train, "
                   "score the new model and the live one on the same test split, and when the new one beats the "
                   "live one by the margin, register it and canary-deploy it at 10 % (rolled back by the "
                   "endpoint's error or latency alarm).",
    "parameters": {"data": {"type": "string", "default": "demo-cancer:latest"},
                   "margin": {"type": "float", "default": 0.01}},
    "steps": [
        {"name": "prep", "type": "process", "builtin": "split", "inputs": {"raw": "{{ params.data }}"},
         "outputs": {"train": "demo-cancer-train", "test": "demo-cancer-test"},
         "parameters": {"test": 0.25, "seed": 0}},
        {"name": "train", "type": "train", "algorithm": "logistic-regression",
         "inputs": {"train": "{{ steps.prep.outputs.train }}"}, "hyperparameters": {"C": 0.5},
         "validation_split": 0.2, "retries": 1},
        {"name": "candidate", "type": "register", "model": "{{ steps.train.model }}",
         "model_name": "demo-cancer-candidates"},
        {"name": "eval-new", "type": "evaluate", "model": "{{ steps.candidate.version }}",
         "data": "{{ steps.prep.outputs.test }}"},
        {"name": "eval-live", "type": "evaluate", "model": f"endpoint:{DEMO_ENDPOINT}",
         "data": "{{ steps.prep.outputs.test }}"},
        {"name": "beats-live", "type": "condition",
         "when": {"op": ">=", "left": "{{ steps.eval-new.metrics['test:accuracy'] }}",
                  "right": "{{ steps.eval-live.metrics['test:accuracy'] }}", "margin": "{{ params.margin }}"},
         "then": ["register"], "else": ["not-better"]},
        {"name": "register", "type": "register", "model": "{{ steps.train.model }}", "model_name": DEMO_MODEL,
         "approval": "Approved"},
        {"name": "canary", "type": "deploy", "endpoint": DEMO_ENDPOINT, "model": "{{ steps.register.version }}",
         "strategy": "canary", "canary_percent": 10, "bake_seconds": 300, "alarms": list(DEMO_CANARY_ALARMS)},
        {"name": "not-better", "type": "fail",
         "message": "The new model does not beat the live one by {{ params.margin }} on the test split."},
    ],
}


def load_demo_monitoring(platform: Platform, user: str = "demo") -> list[str]:
    """A drift monitor on the demo endpoint (baseline: the demo model's training data) with an alarm on its
    drifted features, and the endpoint's error-rate and p99 alarms that guard the pipeline's canary. Only
    definitions: the monitor's first run is five minutes away."""
    from slipway.errors import AlreadyExists, Conflict

    made = []
    try:
        platform.baselines.compute(f"{DEMO_MODEL}:1", dataset=f"{DEMO_MODEL}:1")
        platform.monitors.create(DEMO_MONITOR, DEMO_ENDPOINT, every="5m", window="1h", user=user)
        made.append(f"monitor/{DEMO_MONITOR}")
    except (AlreadyExists, Conflict):
        pass
    alarms = {DEMO_DRIFT_ALARM: (f"monitor/{DEMO_MONITOR}/drifted_features", 0.0, "max"),
              **{k: (m, v, "avg") for k, (m, v) in DEMO_CANARY_ALARMS.items()}}
    for name, (metric, above, statistic) in alarms.items():
        try:
            platform.alarms.create(name, metric, above, statistic=statistic, user=user)
            made.append(f"alarm/{name}")
        except (AlreadyExists, Conflict):
            pass
    return made


def load_demo_pipeline(platform: Platform, user: str = "admin") -> list[str]:
    """The retraining pipeline, triggered by each new version of demo-cancer and by the demo endpoint's drift
    alarm entering ALARM (no run is started here). Its runs act as its owner, so it belongs to a real user:
    the bootstrapped admin."""
    from slipway.schemas.pipelines import PipelineSpec

    platform.pipelines.create(DEMO_PIPELINE, PipelineSpec.model_validate(DEMO_PIPELINE_DEFINITION), user)
    platform.pipelines.add_trigger(DEMO_PIPELINE, "dataset:demo-cancer", {"data": "{{ event.ref }}"}, user)
    platform.pipelines.add_trigger(DEMO_PIPELINE, f"alarm:{DEMO_DRIFT_ALARM}", {}, user)
    return [f"pipeline/{DEMO_PIPELINE}"]


def start_demo_tuning(platform: Platform, user: str = "demo") -> list[str]:
    """A small tuning job (6 trials of logistic regression on iris) that finishes in the background."""
    from slipway.errors import AlreadyExists
    from slipway.schemas import CreateJobRequest
    from slipway.schemas.tuning import CreateTuningRequest

    req = CreateTuningRequest(
        job=CreateJobRequest(algorithm="logistic-regression", inputs={"train": "demo-iris:1"}, validation_split=0.3),
        objective="validation:accuracy", maximize=True, ranges=["C=0.001:100:log"], strategy="bayesian",
        max_trials=6, max_parallel=1, seed=0,
    )
    try:
        platform.tuning.create(DEMO_TUNING, req, user)
    except AlreadyExists:
        pass
    return [f"tuning/{DEMO_TUNING}"]


def load_demo_serving(platform: Platform, csv_path: Path, dataset_ref: str, work: Path, user: str = "demo"
                      ) -> list[str]:
    """A scikit-learn classifier trained on the demo cancer data, registered, approved, aliased and live.

    Training jobs are not needed: the model is fitted here and imported like a user's own model.
    Does nothing when the model group already exists.
    """
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from slipway.artifacts.flavors.sklearn import save_sklearn_artifact
    from slipway.errors import NotFound
    from slipway.schemas import VariantSpec

    try:
        platform.registry.get(DEMO_MODEL)
        return []
    except NotFound:
        pass
    frame = pd.read_csv(csv_path)
    X, y = frame.drop(columns=["target"]), frame["target"]
    # An early model: fitted on a sample of 100 rows. The retraining pipeline's model, trained on all of
    # demo-cancer, beats it on the held-out split by more than the pipeline's margin, so a run ends in a canary.
    X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=EARLY_ROWS, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=1000)).fit(X_train, y_train)
    accuracy = float(model.score(X_test, y_test))
    folder = work / "cancer-model"
    save_sklearn_artifact(
        model, folder, metrics={"validation:accuracy": round(accuracy, 4)},
        lineage={"algorithm": "logistic-regression", "datasets": {"train": dataset_ref},
                 "hyperparameters": {"C": 0.5}},
    )
    version = platform.registry.register(DEMO_MODEL, folder, {"kind": "import", "filename": "demo"}, user,
                                         description=f"Logistic regression on an early sample of the demo cancer "
                                                     f"data ({EARLY_ROWS} rows)")
    platform.registry.set_approval(version.ref, "Approved", "demo model", user)
    platform.registry.set_alias(DEMO_MODEL, "production", version.version, user)
    platform.endpoints.create(DEMO_ENDPOINT, [VariantSpec(model=f"{DEMO_MODEL}@production")], user)
    return [version.ref, f"endpoint {DEMO_ENDPOINT}"]


def start_demo_loader(platform: Platform) -> threading.Thread | None:
    """Load the demo once per home (a marker file remembers), without delaying start-up."""
    marker = platform.settings.home / MARKER
    if marker.exists():
        return None

    def _run() -> None:
        try:
            refs = load_demo(platform)
            marker.write_text("\n".join(refs) + "\n")
            log.info("Demo workspace loaded: %s", ", ".join(refs))
        except Exception:
            log.exception("Loading the demo workspace failed")

    t = threading.Thread(target=_run, name="demo-loader", daemon=True)
    t.start()
    return t
