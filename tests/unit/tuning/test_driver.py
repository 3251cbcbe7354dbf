"""The tuning driver against a small in-test trial backend (jobs are simulated by a function).

The end-to-end behaviour with real training jobs is in tests/integration/test_tuning.py.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytest

from slipway.tuning.driver import TrialStatus, TuningConfig, TuningDriver, open_storage
from slipway.tuning.space import parse_ranges


class FunctionBackend:
    """Each trial 'job' takes `steps` passes; reports f(params) * step/steps as it goes."""

    def __init__(self, fn: Any, steps: int = 1, fail_when: Any = None, metric: str = "score") -> None:
        self.fn, self.steps, self.fail_when, self.metric = fn, steps, fail_when, metric
        self.jobs: dict[str, dict[str, Any]] = {}
        self.stopped: list[str] = []

    def launch(self, tuning_name: str, number: int, params: dict[str, Any]) -> str:
        name = f"{tuning_name}-{number:03d}"
        self.jobs[name] = {"params": dict(params), "passes": 0}
        return name

    def poll(self, job_name: str, objective: str) -> TrialStatus:
        job = self.jobs.get(job_name)
        if job is None:
            return TrialStatus("missing")
        if job_name in self.stopped:
            return TrialStatus("stopped", reason="stopped")
        job["passes"] += 1
        value = self.fn(job["params"])
        inter = [(s, value * s / self.steps) for s in range(1, min(job["passes"], self.steps) + 1)]
        if self.fail_when and self.fail_when(job["params"]):
            return TrialStatus("failed", reason=f"ValueError: bad params {job['params']}")
        if job["passes"] < self.steps:
            return TrialStatus("running", intermediate=inter)
        return TrialStatus("completed", intermediate=inter, final={self.metric: value})

    def stop(self, job_name: str) -> None:
        self.stopped.append(job_name)


def run(driver: TuningDriver, max_passes: int = 200) -> Any:
    for _ in range(max_passes):
        res = driver.step()
        if res.done:
            return res
    raise AssertionError("tuning did not finish")


def quad(p: dict[str, Any]) -> float:
    return -((p["x"] - 0.3) ** 2)


@pytest.fixture
def storage(tmp_path: Path) -> optuna.storages.RDBStorage:
    return open_storage(f"sqlite:///{tmp_path / 'meta.db'}")


def config(**kw: Any) -> TuningConfig:
    base = dict(name="t", space=parse_ranges(["x=0:1"]), objective="score", maximize=True, strategy="random",
                max_trials=6, max_parallel=2, seed=1)
    base.update(kw)
    return TuningConfig(**base)


def test_runs_max_trials_and_picks_best(storage: Any) -> None:
    backend = FunctionBackend(quad, steps=2)
    d = TuningDriver(config(), storage, backend)
    assert run(d).failed_reason == ""
    rows = d.trials()
    assert len(rows) == 6 and all(r["status"] == "Completed" for r in rows)
    best = d.best()
    assert best["objective"] == max(r["objective"] for r in rows)
    assert len(backend.jobs) == 6


def test_parallelism_is_bounded(storage: Any) -> None:
    backend = FunctionBackend(quad, steps=3)
    d = TuningDriver(config(max_parallel=2), storage, backend)
    for _ in range(50):
        d.step()
        running = [r for r in d.trials() if r["status"] == "Running"]
        assert len(running) <= 2
        if len(d.trials()) == 6 and not running:
            break


def test_failed_trials_are_counted_never_best(storage: Any) -> None:
    backend = FunctionBackend(quad, fail_when=lambda p: p["x"] > 0.5)
    d = TuningDriver(config(max_trials=8, seed=3), storage, backend)
    run(d)
    rows = d.trials()
    failed = [r for r in rows if r["status"] == "Failed"]
    assert failed and all("bad params" in r["reason"] for r in failed)
    assert d.best()["status"] == "Completed"


def test_every_trial_failing_fails_with_first_reason(storage: Any) -> None:
    d = TuningDriver(config(max_trials=3), storage, FunctionBackend(quad, fail_when=lambda p: True))
    reason = run(d).failed_reason
    assert reason.startswith("Every trial failed; the first (trial 0) failed with: ValueError: bad params")


def test_missing_objective_names_metric_and_metrics_seen(storage: Any) -> None:
    d = TuningDriver(config(max_trials=2, objective="validation:auc"), storage, FunctionBackend(quad))
    reason = run(d).failed_reason
    assert reason == "No trial reported the objective metric 'validation:auc'; metrics seen: score."


def test_resume_with_a_new_driver_does_not_repeat(storage: Any) -> None:
    backend = FunctionBackend(quad, steps=2)
    d = TuningDriver(config(max_trials=6), storage, backend)
    for _ in range(3):
        d.step()
    done_before = [r for r in d.trials() if r["status"] == "Completed"]
    # A new driver (after a server restart) over the same database carries on.
    d2 = TuningDriver(config(max_trials=6), storage, backend)
    run(d2)
    assert len(d2.trials()) == 6
    assert all(r in d2.trials() for r in done_before)
    assert len(backend.jobs) == 6


def test_lost_job_is_requeued_with_same_params(storage: Any) -> None:
    backend = FunctionBackend(quad, steps=3)
    d = TuningDriver(config(max_trials=2, max_parallel=2), storage, backend)
    d.step()
    lost = sorted(backend.jobs)[0]
    params = backend.jobs.pop(lost)["params"]
    run(d)
    rows = d.trials()
    assert [r["status"] for r in rows].count("Requeued") == 1
    assert [r for r in rows if r["status"] == "Completed" and r["params"] == params]
    assert sum(r["status"] == "Completed" for r in rows) == 2


def test_seed_makes_runs_reproducible_with_one_at_a_time(tmp_path: Path) -> None:
    seqs = []
    for i in range(2):
        st = open_storage(f"sqlite:///{tmp_path / f'r{i}.db'}")
        d = TuningDriver(config(strategy="bayesian", max_parallel=1, max_trials=8, seed=42), st, FunctionBackend(quad))
        run(d)
        seqs.append([round(r["params"]["x"], 12) for r in d.trials()])
    assert seqs[0] == seqs[1] and len(set(seqs[0])) == 8


def test_hyperband_prunes_and_saves_compute(storage: Any) -> None:
    backend = FunctionBackend(lambda p: -abs(p["x"] - 0.2), steps=9)
    d = TuningDriver(config(max_trials=12, max_parallel=3, early_stopping="hyperband", max_resource=9, seed=5),
                     storage, backend)
    run(d, max_passes=500)
    rows = d.trials()
    pruned = [r for r in rows if r["status"] == "Pruned"]
    assert pruned, "hyperband pruned nothing"
    assert all(r["job"] in backend.stopped for r in pruned)
    assert all(r["steps"] < 9 for r in pruned)


def test_grid_stops_when_exhausted(storage: Any) -> None:
    backend = FunctionBackend(lambda p: p["k"] * (1 if p["f"] == "a" else 2))
    d = TuningDriver(config(space=parse_ranges(["k=1:3:int", "f=a,b"]), strategy="grid", max_trials=50), storage, backend)
    run(d)
    rows = d.trials()
    assert sorted((r["params"]["k"], r["params"]["f"]) for r in rows) == [
        (1, "a"), (1, "b"), (2, "a"), (2, "b"), (3, "a"), (3, "b")]
    assert d.best()["params"] == {"k": 3, "f": "b"}


def test_warm_start_copies_finished_trials(storage: Any) -> None:
    first = TuningDriver(config(name="first", max_trials=4), storage, FunctionBackend(quad))
    run(first)
    second = TuningDriver(config(name="second", max_trials=3), storage, FunctionBackend(quad))
    assert second.warm_start(first.config.study_name) == 4
    run(second)
    rows = second.trials()
    assert sum(r["status"] == "WarmStart" for r in rows) == 4
    assert sum(r["status"] == "Completed" for r in rows) == 3
    assert math.isfinite(second.best()["objective"])
