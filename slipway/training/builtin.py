"""The entry point of built-in algorithm jobs, itself a SageMaker script-mode program.

``python -m slipway.training.builtin`` reads the channels and hyperparameters from the SM_*
environment, fits the algorithm inside a preprocessing Pipeline, evaluates it, and writes
model.joblib, evaluation.json and slipway-model.json to SM_MODEL_DIR.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from slipway.training.contract import JobPaths
from slipway.training.metrics import log_metric

__all__ = ["main"]

TABLE_FORMATS = ("csv", "parquet", "jsonl")
TRAIN_METRIC_ROWS = 2_000  # train-set metrics on a sample: cheap next to the fit, still informative


class DataError(Exception):
    """A problem with the data the user can fix; becomes the failure reason as is."""


def _say(message: str) -> None:
    print(message, flush=True)


def load_table(folder: Path, fmt: str) -> Any:
    import pandas as pd

    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(f"Channel folder {folder} holds no file.")
    readers = {"csv": pd.read_csv, "parquet": pd.read_parquet, "jsonl": lambda p: pd.read_json(p, lines=True)}
    frames = [readers[fmt](p) for p in files]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def load_text_folder(folder: Path) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    for cls in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(p for p in cls.rglob("*") if p.is_file() and not p.name.startswith(".")):
            texts.append(f.read_text(encoding="utf-8", errors="replace"))
            labels.append(cls.name)
    if not texts:
        raise DataError(f"Text folder {folder} holds no file in a class subfolder.")
    return texts, labels


def preprocessor(X: Any) -> Any:
    """Scaling and median imputation for numbers; most-frequent imputation and one-hot for the rest."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in X.columns if X[c].dtype.kind in "iuf"]
    other = [c for c in X.columns if c not in numeric]
    parts: list[Any] = []
    if numeric:
        parts.append(("numeric", Pipeline([("impute", SimpleImputer(strategy="median")),
                                           ("scale", StandardScaler())]), numeric))
    if other:
        parts.append(("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]), other))
    return ColumnTransformer(parts, remainder="drop")


class Data:
    """Features and target of one channel, with what the signature needs."""

    def __init__(self, X: Any, y: Any, kind: str, inputs: list[dict[str, str]]) -> None:
        self.X, self.y, self.kind, self.inputs = X, y, kind, inputs

    def __len__(self) -> int:
        return len(self.X)

    def take(self, idx: Any) -> Data:
        X = self.X.iloc[idx] if hasattr(self.X, "iloc") else [self.X[i] for i in idx]
        y = None if self.y is None else [self.y[i] for i in idx] if isinstance(self.y, list) else self.y.iloc[idx]
        return Data(X, y, self.kind, self.inputs)


def _dtype(series: Any) -> str:
    kind = series.dtype.kind
    return {"i": "int64", "u": "int64", "f": "float64", "b": "bool", "M": "datetime64"}.get(kind, "string")


def load_channel(name: str, info: dict[str, Any], job: dict[str, Any], hps: dict[str, Any], algo: Any) -> Data:
    folder = JobPaths(os.environ["SLIPWAY_JOB_DIR"]).channel(name)
    fmt = info.get("format")
    label = job.get("label")
    if fmt == "text-folder":
        texts, labels = load_text_folder(folder)
        return Data(texts, labels, "text", [])
    if fmt not in TABLE_FORMATS:
        raise DataError(f"Channel {name!r} ({info.get('ref')}) is {fmt}; built-in algorithms read csv, parquet, "
                        "jsonl or text folders.")
    df = load_table(folder, fmt)
    y = None
    if label and label in df.columns:
        y = df[label]
        df = df.drop(columns=[label])
    elif algo.supervised:
        raise DataError(f"Label column {label!r} not found in channel {name!r} ({info.get('ref')}). "
                        f"Its columns are: {', '.join(map(str, df.columns))}.")
    if y is not None and y.isna().any():
        keep = ~y.isna()
        df, y = df[keep], y[keep]
    if "text" in algo.input_kinds:
        column = hps.get("text_column") or next((c for c in df.columns if _dtype(df[c]) == "string"), None)
        if column is None or column not in df.columns:
            raise DataError(f"Text column {column!r} not found in channel {name!r}. Columns: "
                            f"{', '.join(map(str, df.columns))}. Set --hp text_column=NAME.")
        return Data(df[column].fillna("").astype(str), y, "text", [{"name": str(column), "dtype": "string"}])
    return Data(df, y, "tabular", [{"name": str(c), "dtype": _dtype(df[c])} for c in df.columns])


def split(data: Data, fraction: float, stratify: bool, seed: int) -> tuple[Data, Data]:
    import numpy as np
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(data))
    strat = None
    if stratify and data.y is not None:
        ys = list(data.y)
        counts: dict[Any, int] = {}
        for v in ys:
            counts[v] = counts.get(v, 0) + 1
        if min(counts.values()) >= 2 and len(counts) <= len(ys) * fraction:
            strat = ys
    a, b = train_test_split(idx, test_size=fraction, random_state=seed, stratify=strat)
    return data.take(a), data.take(b)


def build_model(algo: Any, hps: dict[str, Any], problem: str, data: Data) -> Any:
    from sklearn.pipeline import Pipeline

    coarse = "classification" if problem.endswith("classification") else problem
    estimator = algo.build(hps, coarse)
    if data.kind == "text":
        return estimator
    return Pipeline([("preprocess", preprocessor(data.X)), (algo.name.replace("-", "_"), estimator)])


def _sample(data: Data, n: int, seed: int) -> Data:
    if len(data) <= n:
        return data
    import numpy as np

    return data.take(np.random.default_rng(seed).choice(len(data), n, replace=False))


# Ensembles that grow by warm start: fitted in stages, each reporting validation metrics with a step,
# so that tuning can stop a poor trial early (Hyperband) and save the rest of its compute.
STAGED = {"gradient-boosting": "max_iter", "random-forest": "n_estimators"}
STAGES = 8


def fit_in_stages(model: Any, name: str, hps: dict[str, Any], problem: str, train_data: Data,
                  validation: Data, prefix: str = "validation") -> None:
    """Grow the ensemble in STAGES steps, logging ``<prefix>:<metric>`` at each (a sample of the training
    rows stands in for validation data when there is none, so the job still draws its learning curve)."""
    from slipway.training.evaluation import evaluate

    estimator = model[-1] if hasattr(model, "steps") else model
    param = STAGED[name]
    total = int(hps[param])
    sizes = sorted({max(1, round(total * (i + 1) / STAGES)) for i in range(min(STAGES, total))})
    estimator.set_params(warm_start=True)
    for step, size in enumerate(sizes, 1):
        estimator.set_params(**{param: size})
        model.fit(train_data.X, train_data.y)
        metrics, _ = evaluate(model, problem, validation.X, validation.y)
        for key, value in metrics.items():
            if ":" not in key:
                log_metric(f"{prefix}:{key}", value, step=step)
        _say(f"stage {step}/{len(sizes)}: {param}={size} " + " ".join(
            f"{prefix}:{k}={v:.4g}" for k, v in metrics.items() if ":" not in k and k in ("accuracy", "rmse")))
    estimator.set_params(warm_start=False)


def record_curves(model: Any) -> None:
    """Log the curves a fitted estimator keeps as metric series with steps, so the job's page draws them:
    the training loss per epoch of a neural network (and its early-stopping holdout score), and the
    cumulative explained variance per component of PCA."""
    import math

    estimator = model[-1] if hasattr(model, "steps") else model
    curves = {"train:loss": getattr(estimator, "loss_curve_", None),
              "train:holdout_score": getattr(estimator, "validation_scores_", None)}
    ratios = getattr(estimator, "explained_variance_ratio_", None)
    if ratios is not None:
        total, cumulative = 0.0, []
        for r in ratios:
            total += float(r)
            cumulative.append(total)
        curves["train:explained_variance"] = cumulative
    for name, values in curves.items():
        if values is None:
            continue
        for step, value in enumerate(values, 1):
            if math.isfinite(float(value)):
                log_metric(name, float(value), step=step)


# Boosters that take the validation set while they fit: per-round metrics, early stopping.
BOOSTED = ("xgboost", "lightgbm")


def fit_with_validation(model: Any, train_data: Data, validation: Data) -> None:
    """Fit the preprocessing on the training rows, then the booster with the validation rows beside it."""
    if hasattr(model, "steps"):
        prep, booster = model[:-1], model[-1]
        x = prep.fit_transform(train_data.X, train_data.y)
        booster.fit(x, train_data.y, eval_set=(prep.transform(validation.X), validation.y))
    else:
        model.fit(train_data.X, train_data.y, eval_set=(validation.X, validation.y))


def train(job: dict[str, Any], hps: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    import joblib  # noqa: F401  # imported here so the timing below counts it
    import pandas  # noqa: F401
    import sklearn.pipeline  # noqa: F401

    from slipway.algorithms import get_algorithm, validate_hyperparameters
    from slipway.training.evaluation import evaluate

    _say(f"Imported pandas and scikit-learn in {time.perf_counter() - t0:.2f} s")
    algo = get_algorithm(job["algorithm"])
    hps = validate_hyperparameters(algo, hps)
    problem = job["problem_type"]
    channels = job["channels"]
    model_dir = Path(os.environ["SM_MODEL_DIR"])
    t0 = time.perf_counter()
    train_data = load_channel("train", channels["train"], job, hps, algo)
    _say(f"Loaded train ({channels['train']['ref']}): {len(train_data)} rows in {time.perf_counter() - t0:.2f} s")
    validation: Data | None = None
    if "validation" in channels:
        validation = load_channel("validation", channels["validation"], job, hps, algo)
        _say(f"Loaded validation ({channels['validation']['ref']}): {len(validation)} rows")
    elif job.get("validation_split"):
        train_data, validation = split(train_data, job["validation_split"], problem.endswith("classification"),
                                       int(hps.get("random_state", 0) or 0))
        _say(f"Split {job['validation_split']:.0%} off for validation: {len(train_data)} train, "
             f"{len(validation)} validation rows")
    model = build_model(algo, hps, problem, train_data)
    _say(f"Fitting {algo.name} ({problem}) with {json.dumps(hps, sort_keys=True)}")
    started = time.perf_counter()
    if algo.supervised and algo.name in STAGED:
        if validation is not None:
            fit_in_stages(model, algo.name, hps, problem, train_data, validation)
        else:
            fit_in_stages(model, algo.name, hps, problem, train_data, _sample(train_data, TRAIN_METRIC_ROWS, 0),
                          prefix="train")
    elif algo.supervised and algo.name in BOOSTED and validation is not None:
        fit_with_validation(model, train_data, validation)
    elif algo.supervised:
        model.fit(train_data.X, train_data.y)
    else:
        model.fit(train_data.X)
    _say(f"Fitted in {time.perf_counter() - started:.3f} s")
    record_curves(model)
    final: dict[str, float] = {}
    report: dict[str, Any] = {"problem_type": problem}
    started = time.perf_counter()
    sets = [("train", _sample(train_data, TRAIN_METRIC_ROWS, 0))] + ([("validation", validation)] if validation else [])
    for prefix, data in sets:
        if len(data) == 0:
            continue
        metrics, detail = evaluate(model, problem, data.X, data.y)
        report[prefix] = {"metrics": metrics, **detail}
        for key, value in metrics.items():
            final[f"{prefix}:{key}"] = value
            log_metric(f"{prefix}:{key}", value)
            if ":" not in key:
                _say(f"{prefix}:{key} = {value:.6g}")
    _say(f"Evaluated in {time.perf_counter() - started:.2f} s")
    started = time.perf_counter()
    final_estimator = model[-1] if hasattr(model, "steps") else model
    labels = [str(c) for c in getattr(final_estimator, "classes_", [])] or None
    (model_dir / "evaluation.json").write_text(json.dumps(report, indent=2))
    from slipway.artifacts.flavors.sklearn import save

    # Training rows (strings too) or texts to verify the ONNX export on at registration.
    save(model, model_dir, problem_type=problem, labels=labels, metrics=final, lineage=job.get("lineage", {}),
         input_kind=train_data.kind, inputs=train_data.inputs,
         samples=train_data.X if train_data.kind in ("tabular", "text") else None)
    _say(f"Saved the model to {model_dir} in {time.perf_counter() - started:.2f} s")


def main() -> int:
    warnings.simplefilter("ignore")  # sklearn's convergence chatter would drown the log
    paths = JobPaths(os.environ["SLIPWAY_JOB_DIR"])
    job = json.loads(paths.job_file.read_text())
    hps = json.loads(os.environ.get("SM_HPS", "{}"))
    try:
        if job.get("framework") not in (None, "sklearn"):
            from slipway.training.deep import DeepDataError, train_deep

            try:
                train_deep(job, hps)
            except DeepDataError as exc:
                raise DataError(str(exc)) from None
        else:
            train(job, hps)
    except DataError as exc:
        paths.failure.write_text(str(exc))
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip tearing down pandas, scikit-learn and the model: everything is written
