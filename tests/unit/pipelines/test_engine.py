"""The pipeline engine on a real Platform (real jobs, real SQLite): branches, cache, retries, restart."""

from __future__ import annotations

import time
from pathlib import Path

from slipway.pipelines import Pipeline
from slipway.services import Platform
from slipway.settings import Settings
from tests.support.job_driver import run_jobs, upload_source, write_csv

PREP = """\
import os, pathlib
src = pathlib.Path(os.environ["SM_PROCESSING_INPUT_RAW"]) / "raw.csv"
out = pathlib.Path(os.environ["SM_PROCESSING_OUTPUT_CLEAN"]) / "clean.csv"
out.write_text(src.read_text())
"""


def _yaml(sha: str, c: float = 1.0) -> str:
    return f"""
parameters:
  min_accuracy: {{type: float, default: 0.0}}
steps:
  - name: prep
    type: process
    script: prep.py
    source_sha256: {sha}
    inputs: {{raw: "raw:1"}}
    outputs: {{clean: clean}}
    cpus: 2
  - name: train
    type: train
    algorithm: logistic-regression
    cpus: 1.5
    gpus: 0.5
    inputs: {{train: "{{{{ steps.prep.outputs.clean }}}}"}}
    label: label
    hyperparameters: {{C: {c}}}
    validation_split: 0.25
  - name: evaluate
    type: evaluate
    model: "{{{{ steps.train.model }}}}"
  - name: check
    type: condition
    when: {{op: ">=", left: "{{{{ steps.evaluate.metrics['validation:accuracy'] }}}}",
            right: "{{{{ params.min_accuracy }}}}"}}
    then: [register]
    else: [too-weak]
  - name: register
    type: register
    model: "{{{{ steps.train.model }}}}"
    model_name: clean-model
    approval: Approved
  - name: deploy
    type: deploy
    endpoint: clean-ep
    model: "{{{{ steps.register.version }}}}"
  - name: too-weak
    type: fail
    message: "accuracy below {{{{ params.min_accuracy }}}}"
"""


def _drive(p: Platform, timeout: float = 180.0) -> None:
    """Advance runs and their jobs until no run is pending or running."""
    from slipway.controllers import TuningController

    deadline = time.monotonic() + timeout
    while True:
        p.pipelines.advance_all()
        TuningController(p).reconcile()
        run_jobs(p)
        p.pipelines.advance_all()
        runs = [r for pl in p.pipelines.list() for r in p.pipelines.list_runs(pl.name)]
        if all(r.done for r in runs):
            return
        assert time.monotonic() < deadline, runs


def _setup(p: Platform, tmp_path: Path) -> str:
    p.datasets.push("raw", write_csv(tmp_path / "raw.csv", rows=40), filename="raw.csv", label="label")
    return upload_source(p, {"prep.py": PREP})


def test_a_run_takes_the_true_branch_and_a_second_run_hits_the_cache_except_the_edited_step(
        platform: Platform, tmp_path: Path) -> None:
    p = platform
    sha = _setup(p, tmp_path)
    p.pipelines.create("retrain", Pipeline.from_yaml(_yaml(sha)), "tester")
    p.pipelines.start_run("retrain", {}, "user:tester")
    _drive(p)
    run = p.pipelines.get_run("retrain", 1)
    assert run.status == "Succeeded", run
    steps = {s.name: s for s in run.steps}
    assert [steps[n].status for n in ("prep", "train", "evaluate", "check", "register", "deploy", "too-weak")] == \
        ["Succeeded"] * 6 + ["Skipped"]
    assert steps["prep"].outputs["outputs"] == {"clean": "clean:1"}
    # The steps' jobs ask what the steps ask (a Ray executor places them so; the local one runs them here).
    assert (p.training.get(steps["prep"].job).cpus, p.training.get(steps["prep"].job).gpus) == (2, None)
    assert (p.training.get(steps["train"].job).cpus, p.training.get(steps["train"].job).gpus) == (1.5, 0.5)
    assert steps["check"].outputs == {"result": True}
    ref = steps["register"].outputs["version"]
    assert p.registry.get(ref).approval == "Approved" and p.registry.get(ref).source["job"] == steps["train"].job
    assert run.cache_hits == 0
    assert p.endpoints.get("clean-ep").desired["variants"][0]["model"] == ref  # created with the new version

    # Edit one step (train's C): a new version; prep is a cache hit, train runs again.
    assert p.pipelines.create("retrain", Pipeline.from_yaml(_yaml(sha, c=0.5))).version == 2
    p.pipelines.start_run("retrain", {"min_accuracy": 2.0}, "user:tester")
    _drive(p)
    run2 = p.pipelines.get_run("retrain", 2)
    steps2 = {s.name: s for s in run2.steps}
    assert steps2["prep"].cached_from == "retrain#1/prep" and steps2["prep"].job == steps["prep"].job
    assert steps2["train"].cached_from is None and steps2["train"].job != steps["train"].job
    assert run2.cache_hits == 1
    # min_accuracy 2.0 cannot be met: the else branch fails the run, register is skipped.
    assert run2.status == "Failed" and run2.failure_reason == "Step 'too-weak' failed: accuracy below 2.0"
    assert steps2["register"].status == "Skipped" and steps2["deploy"].status == "Skipped"
    assert len(p.training.list(limit=100).items) == 3  # prep once, train twice


def test_a_restart_mid_run_resumes_without_losing_or_repeating_a_step(settings: Settings, tmp_path: Path) -> None:
    p = Platform(settings)
    p.migrate()
    p.auth.create_user("tester", "data-scientist")  # the owner the run acts as
    sha = _setup(p, tmp_path)
    p.pipelines.create("retrain", Pipeline.from_yaml(_yaml(sha)), "tester")
    p.pipelines.start_run("retrain", {}, "user:tester")
    p.pipelines.advance_all()  # prep's job is created ...
    assert [s.status for s in p.pipelines.get_run("retrain", 1).steps][:2] == ["Running", "Pending"]
    p.close()  # ... and the server stops before it ran

    p2 = Platform(settings)
    try:
        _drive(p2)
        run = p2.pipelines.get_run("retrain", 1)
        assert run.status == "Succeeded"
        assert all(s.attempt == 0 for s in run.steps)
        jobs = sorted(j.name for j in p2.training.list(limit=100).items)
        assert jobs == sorted([run.steps[0].job, run.steps[1].job])  # one job per step, none twice
    finally:
        p2.close()


def test_a_failed_job_is_retried_per_step_policy_then_fails_the_run(platform: Platform, tmp_path: Path) -> None:
    p = platform
    sha = upload_source(p, {"boom.py": "raise SystemExit('no data today')\n"})
    p.pipelines.create("flaky", Pipeline.model_validate({"steps": [
        {"name": "prep", "type": "process", "script": "boom.py", "source_sha256": sha, "retries": 1},
        {"name": "after", "type": "condition", "when": {"op": "==", "left": 1, "right": 1},
         "depends_on": ["prep"]}]}), "tester")
    p.pipelines.start_run("flaky", {}, "user:tester")
    _drive(p)
    run = p.pipelines.get_run("flaky", 1)
    prep, after = run.steps
    assert (prep.status, prep.attempt, prep.job) == ("Failed", 1, f"flaky-{_run_id(p)}-prep-1")
    assert "no data today" in prep.message
    assert after.status == "Skipped" and after.message == "Not run: step 'prep' failed."
    assert run.status == "Failed" and len(p.training.list().items) == 2  # attempts 0 and 1


def _run_id(p: Platform) -> int:
    from sqlalchemy import select

    from slipway.db.models import PipelineRun

    with p.db.session() as s:
        return int(s.scalar(select(PipelineRun.id)))


def test_one_run_per_pipeline_at_a_time(platform: Platform) -> None:
    p = platform.pipelines
    p.create("slow", Pipeline.model_validate({"steps": [{"name": "stop", "type": "fail"}]}), "tester")
    p.start_run("slow", {}, "user:a")
    p.start_run("slow", {}, "user:b")
    p.advance_all()  # run 1 starts (and ends: its one step fails at once); run 2 waits for the next pass
    assert [(r.number, r.status) for r in p.list_runs("slow")] == [(2, "Pending"), (1, "Failed")]
    p.advance_all()
    assert [r.status for r in p.list_runs("slow")] == ["Failed", "Failed"]


def test_a_tune_step_gives_its_best_trial_as_the_model(platform: Platform, tmp_path: Path) -> None:
    p = platform
    p.datasets.push("raw", write_csv(tmp_path / "raw.csv", rows=40), filename="raw.csv", label="label")
    p.pipelines.create("tuned", Pipeline.model_validate({"steps": [
        {"name": "tune", "type": "tune", "algorithm": "logistic-regression", "inputs": {"train": "raw:1"},
         "validation_split": 0.25, "objective": "validation:accuracy", "ranges": ["C=0.1:10:log"], "max_trials": 2},
        {"name": "register", "type": "register", "model": "{{ steps.tune.model }}", "model_name": "tuned"}]}), "tester")
    p.pipelines.start_run("tuned", {}, "user:tester")
    _drive(p)
    run = p.pipelines.get_run("tuned", 1)
    tune, register = run.steps
    assert run.status == "Succeeded", run
    assert tune.outputs["model"].startswith(tune.job + "-") and "validation:accuracy" in tune.outputs["metrics"]
    assert p.registry.get(register.outputs["version"]).source["job"] == tune.outputs["model"]


SHIP = {"parameters": {"c": {"type": "float", "default": 1.0}},
        "steps": [
            {"name": "train", "type": "train", "algorithm": "logistic-regression", "inputs": {"train": "raw:1"},
             "label": "label", "hyperparameters": {"C": "{{ params.c }}"}, "validation_split": 0.25},
            {"name": "register", "type": "register", "model": "{{ steps.train.model }}", "model_name": "ship"},
            {"name": "deploy", "type": "deploy", "endpoint": "ship-ep", "model": "{{ steps.register.version }}",
             "strategy": "canary", "percent": 10, "bake": "2m", "alarms": ["canary-errors"]}]}


def _drive_to_bake(p: Platform, number: int, timeout: float = 120.0) -> None:
    """Advance the run until its deploy step bakes the canary."""
    deadline = time.monotonic() + timeout
    while True:
        p.pipelines.advance_all()
        run_jobs(p)
        p.pipelines.advance_all()
        run = p.pipelines.get_run("ship", number)
        deploy = run.steps[-1]
        if deploy.status == "Running" and deploy.outputs.get("phase") == "baking":
            return
        assert not run.done and time.monotonic() < deadline, run


def test_a_canary_is_promoted_after_its_bake_time_or_rolled_back_when_its_alarm_fires(
        platform: Platform, tmp_path: Path) -> None:
    import datetime as dt

    p = platform
    now = [dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)]
    p.pipelines.clock = lambda: now[0]
    p.datasets.push("raw", write_csv(tmp_path / "raw.csv", rows=40), filename="raw.csv", label="label")
    p.pipelines.create("ship", Pipeline.model_validate(SHIP), "alice")  # the owner the runs act as
    assert p.pipelines.get("ship").definition.steps[-1].bake_seconds == 120  # bake: 2m
    p.pipelines.start_run("ship", {}, "user:tester")
    _drive(p)  # no endpoint yet: created with ship:1
    assert p.pipelines.get_run("ship", 1).status == "Succeeded"
    # Watches the endpoint's traffic; no requests and missing data breaching: ALARM once evaluated.
    p.alarms.create("canary-errors", "endpoint/ship-ep/requests", 1, comparison="below", missing="breaching")
    p.pipelines.create("investigate", Pipeline.model_validate({"steps": [{"name": "stop", "type": "fail"}]}), "alice")
    p.pipelines.add_trigger("investigate", "alarm:canary-errors", {})

    # Run 2: the canary bakes 2 minutes with its alarm not in ALARM, then takes all the traffic.
    p.pipelines.start_run("ship", {"c": 0.5}, "user:tester")
    _drive_to_bake(p, 2)
    variants = p.endpoints.get("ship-ep").desired["variants"]
    assert [(v["name"], v["model"], v["weight"]) for v in variants] == [("primary", "ship:1", 90.0),
                                                                         ("canary", "ship:2", 10.0)]
    p.pipelines.advance_all()
    assert p.pipelines.get_run("ship", 2).steps[-1].status == "Running"  # still baking
    now[0] += dt.timedelta(minutes=2)
    p.pipelines.advance_all()
    run = p.pipelines.get_run("ship", 2)
    assert run.status == "Succeeded", run
    assert "now takes all" in run.steps[-1].message
    assert [(v["name"], v["model"], v["weight"]) for v in p.endpoints.get("ship-ep").desired["variants"]] == \
        [("primary", "ship:2", 1.0)]

    # Run 3: the alarm enters ALARM during the bake: the endpoint goes back to ship:2 and the step fails.
    p.pipelines.start_run("ship", {"c": 0.25}, "user:tester")
    _drive_to_bake(p, 3)
    assert p.endpoints.get("ship-ep").desired["variants"][-1]["model"] == "ship:3"
    assert p.alarms.evaluate_one("canary-errors", now[0] + dt.timedelta(seconds=30)) == 1
    assert p.alarms.get("canary-errors").state == "ALARM"
    # Entering ALARM is an event (written with the state change): the trigger starts exactly one run.
    [triggered] = p.pipelines.fire_triggers()
    assert triggered.started_by.startswith("trigger:alarm:canary-errors (event ")
    assert p.alarms.evaluate_one("canary-errors", now[0] + dt.timedelta(seconds=40)) == 0  # still ALARM
    assert p.pipelines.fire_triggers() == []
    p.pipelines.advance_all()
    run = p.pipelines.get_run("ship", 3)
    deploy = run.steps[-1]
    assert deploy.status == "Failed" and deploy.outputs["rolled_back_by"] == "canary-errors"
    assert deploy.message.startswith("Canary ship:3 rolled back: alarm 'canary-errors' is in ALARM: ")
    assert p.alarms.get("canary-errors").state_reason in deploy.message
    assert run.status == "Failed" and "rolled back" in (run.failure_reason or "")
    ep = p.endpoints.get("ship-ep")
    assert [(v["name"], v["model"], v["weight"]) for v in ep.desired["variants"]] == [("primary", "ship:2", 1.0)]
    assert max(ep.deployments, key=lambda d: d.number).kind == "rollback"
    # Everything the runs did is in the audit trail, as the pipeline's owner.
    trail = [(e.user, e.action, e.resource) for e in reversed(p.audit.list(limit=100).items)]
    assert {("alice", "jobs:Create", f"job/{s.job}") for r in (1, 2, 3)
            for s in p.pipelines.get_run("ship", r).steps[:1]} <= set(trail)
    assert [t for t in trail if t[1] != "jobs:Create"] == [
        ("alice", "models:Register", "model/ship"), ("alice", "endpoints:Create", "endpoint/ship-ep"),
        ("alice", "models:Register", "model/ship"), ("alice", "endpoints:Update", "endpoint/ship-ep"),
        ("alice", "endpoints:Update", "endpoint/ship-ep"),
        ("alice", "models:Register", "model/ship"), ("alice", "endpoints:Update", "endpoint/ship-ep"),
        ("alice", "endpoints:Rollback", "endpoint/ship-ep")]
