"""One tuning job's search, advanced one reconcile pass at a time; all state is in the database.

The driver asks Optuna (RDB storage in Slipway's own database) for parameters, launches a
trial through a ``TrialBackend`` (training jobs in the platform), feeds intermediate
metrics to the pruner, stops pruned trials and tells Optuna the outcome. It is the only
writer of its study, so parallel trials never contend for the storage. A pass after a
crash carries on from the database: completed trials are never repeated, trials whose
job vanished are re-enqueued with the same parameters.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import optuna
from optuna.trial import TrialState

from slipway.tuning.space import SearchSpace, to_distributions
from slipway.tuning.strategies import grid_points, grid_size, make_pruner, make_sampler

__all__ = ["TrialStatus", "TrialBackend", "TuningConfig", "TuningDriver", "PassResult", "open_storage"]

log = logging.getLogger("slipway.tuning")
optuna.logging.set_verbosity(optuna.logging.WARNING)

JOB_ATTR = "slipway_job"
REASON_ATTR = "slipway_reason"
STATUS_ATTR = "slipway_status"  # Completed | Failed | Pruned | Stopped


@dataclass
class TrialStatus:
    """What the backend knows of one trial's job."""

    state: str  # "running" | "completed" | "failed" | "stopped" | "missing"
    intermediate: list[tuple[int, float]] = field(default_factory=list)  # (step, objective value)
    final: dict[str, float] = field(default_factory=dict)  # final metrics of the job
    reason: str = ""


class TrialBackend(Protocol):
    def launch(self, tuning_name: str, number: int, params: dict[str, Any]) -> str:
        """Start a trial; return its job name."""

    def poll(self, job_name: str, objective: str) -> TrialStatus: ...

    def stop(self, job_name: str) -> None: ...


@dataclass(frozen=True)
class TuningConfig:
    name: str
    space: SearchSpace
    objective: str
    maximize: bool
    strategy: str = "bayesian"
    max_trials: int = 10
    max_parallel: int = 1
    early_stopping: str = "none"
    seed: int | None = None
    max_resource: int | None = None

    @property
    def study_name(self) -> str:
        return f"slipway-tuning-{self.name}"


@dataclass
class PassResult:
    done: bool = False
    failed_reason: str = ""
    launched: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


def open_storage(database_url: str) -> optuna.storages.RDBStorage:
    kwargs: dict[str, Any] = {}
    if database_url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 30}}
    else:
        kwargs = {"pool_pre_ping": True}
    return optuna.storages.RDBStorage(database_url, engine_kwargs=kwargs)


class TuningDriver:
    def __init__(self, config: TuningConfig, storage: optuna.storages.BaseStorage, backend: TrialBackend) -> None:
        self.config = config
        self.storage = storage
        self.backend = backend
        self.distributions = to_distributions(config.space)
        if config.strategy == "grid":
            # Never ask for more trials than the grid has points.
            object.__setattr__(config, "max_trials", min(config.max_trials, grid_size(config.space)))

    def study(self, trial_number: int = 0) -> optuna.Study:
        direction = "maximize" if self.config.maximize else "minimize"
        return optuna.create_study(
            storage=self.storage,
            study_name=self.config.study_name,
            direction=direction,
            load_if_exists=True,
            sampler=make_sampler(self.config.strategy, self.config.space, self.config.seed, trial_number),
            pruner=make_pruner(self.config.early_stopping, self.config.max_resource),
        )

    def warm_start(self, source_study_name: str) -> int:
        """Copy the finished trials of another tuning job whose parameters fit this space."""
        src = optuna.load_study(study_name=source_study_name, storage=self.storage)
        study = self.study()
        added = 0
        for t in src.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if set(t.params) != set(self.distributions):
                continue
            try:
                for name, value in t.params.items():
                    if not self.distributions[name]._contains(self.distributions[name].to_internal_repr(value)):
                        raise ValueError(name)
            except ValueError:
                continue
            study.add_trial(optuna.trial.create_trial(
                params=t.params, distributions=self.distributions, value=t.value,
                user_attrs={STATUS_ATTR: "WarmStart", REASON_ATTR: f"from {source_study_name}"},
            ))
            added += 1
        return added

    # -- one pass ----------------------------------------------------------------------------

    def step(self) -> PassResult:
        result = PassResult()
        study = self.study()
        trials = study.get_trials(deepcopy=False)
        if self.config.strategy == "grid" and not trials:
            for params in grid_points(self.config.space, self.config.seed)[: self.config.max_trials]:
                study.enqueue_trial(params)
            trials = study.get_trials(deepcopy=False)
        running = [t for t in trials if t.state == TrialState.RUNNING]
        for t in running:
            self._update(study, t, result)
        trials = study.get_trials(deepcopy=False)
        active = sum(1 for t in trials if t.state == TrialState.RUNNING)
        slots = min(self.config.max_parallel - active, self.config.max_trials - len(self._counted(trials)))
        for _ in range(max(slots, 0)):
            number = len(study.get_trials(deepcopy=False))
            study = self.study(number)
            trial = study.ask(self.distributions)
            try:
                job = self.backend.launch(self.config.name, trial.number, trial.params)
            except Exception as exc:
                self.storage.set_trial_user_attr(trial._trial_id, REASON_ATTR, f"launch failed: {exc}")
                self.storage.set_trial_user_attr(trial._trial_id, STATUS_ATTR, "Failed")
                study.tell(trial, state=TrialState.FAIL)
                continue
            self.storage.set_trial_user_attr(trial._trial_id, JOB_ATTR, job)
            result.launched.append(job)
        trials = study.get_trials(deepcopy=False)
        own = self._counted(trials)
        finished = [t for t in own if t.state.is_finished()]
        if not any(t.state == TrialState.RUNNING for t in trials) and len(finished) >= self.config.max_trials:
            result.done = True
            result.failed_reason = self._failure(own)
        return result

    @staticmethod
    def _counted(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
        """Trials that use up the budget: not warm-start copies, not re-enqueued, not waiting."""
        return [t for t in trials if t.state != TrialState.WAITING
                and t.user_attrs.get(STATUS_ATTR) not in ("WarmStart", "Requeued")]

    def _update(self, study: optuna.Study, t: optuna.trial.FrozenTrial, result: PassResult) -> None:
        job = t.user_attrs.get(JOB_ATTR)
        if not job:  # asked but never launched (a crash between ask and launch): retry it
            self._tell(study, t, TrialState.FAIL, "Requeued", "never launched; parameters re-enqueued")
            study.enqueue_trial(t.params)
            return
        status = self.backend.poll(job, self.config.objective)
        seen = set(t.intermediate_values)
        trial = optuna.trial.Trial(study, t._trial_id)
        for step, value in status.intermediate:
            if step in seen or not math.isfinite(value):
                continue
            trial.report(value, step)
            seen.add(step)
        if status.state == "running":
            if seen and self.config.early_stopping != "none" and trial.should_prune():
                self.backend.stop(job)
                self._tell(study, t, TrialState.PRUNED, "Pruned", f"pruned at step {max(seen)}")
                result.pruned.append(job)
            return
        if status.state == "missing":
            # The job vanished (crash before it was recorded): run the same parameters again.
            self._tell(study, t, TrialState.FAIL, "Requeued", "job lost; parameters re-enqueued")
            study.enqueue_trial(t.params)
            return
        if status.state == "completed":
            value = status.final.get(self.config.objective)
            if value is None or not math.isfinite(value):
                seen_names = ", ".join(sorted(status.final)) or "none"
                self._tell(study, t, TrialState.FAIL, "Failed",
                           f"objective metric {self.config.objective!r} was not reported; metrics seen: {seen_names}")
            else:
                self.storage.set_trial_user_attr(t._trial_id, STATUS_ATTR, "Completed")
                study.tell(t.number, value)
            return
        if status.state == "stopped":
            self._tell(study, t, TrialState.FAIL, "Stopped", status.reason or "stopped")
            return
        self._tell(study, t, TrialState.FAIL, "Failed", status.reason or "job failed")

    def _tell(self, study: optuna.Study, t: optuna.trial.FrozenTrial, state: TrialState, status: str, reason: str) -> None:
        self.storage.set_trial_user_attr(t._trial_id, STATUS_ATTR, status)
        self.storage.set_trial_user_attr(t._trial_id, REASON_ATTR, reason)
        study.tell(t.number, state=state)

    def _failure(self, own: list[optuna.trial.FrozenTrial]) -> str:
        if any(t.state == TrialState.COMPLETE for t in own):
            return ""
        failed = [t for t in own if t.user_attrs.get(STATUS_ATTR) == "Failed"]
        missing_objective = [t for t in failed if "was not reported" in t.user_attrs.get(REASON_ATTR, "")]
        if missing_objective:
            seen = missing_objective[0].user_attrs[REASON_ATTR].split("metrics seen: ", 1)[-1]
            return f"No trial reported the objective metric {self.config.objective!r}; metrics seen: {seen}."
        if failed:
            first = min(failed, key=lambda t: t.number)
            return f"Every trial failed; the first (trial {first.number}) failed with: {first.user_attrs.get(REASON_ATTR, '')}"
        return "No trial completed."

    # -- reading -----------------------------------------------------------------------------

    def stop_all(self) -> list[str]:
        study = self.study()
        stopped = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            job = t.user_attrs.get(JOB_ATTR)
            if job:
                self.backend.stop(job)
                stopped.append(job)
            self._tell(study, t, TrialState.FAIL, "Requeued", "tuning job stopped; a resume runs it again")
            study.enqueue_trial(t.params)
        return stopped

    def trials(self) -> list[dict[str, Any]]:
        try:
            study = optuna.load_study(study_name=self.config.study_name, storage=self.storage)
        except KeyError:
            return []
        rows = []
        for t in study.get_trials(deepcopy=False):
            status = t.user_attrs.get(STATUS_ATTR) or ("Running" if t.state == TrialState.RUNNING else
                                                       "Pending" if t.state == TrialState.WAITING else t.state.name.title())
            rows.append({
                "number": t.number, "status": status, "job": t.user_attrs.get(JOB_ATTR),
                "params": t.params, "objective": t.value,
                "steps": len(t.intermediate_values), "reason": t.user_attrs.get(REASON_ATTR, ""),
            })
        return rows

    def best(self) -> dict[str, Any] | None:
        rows = [r for r in self.trials() if r["status"] == "Completed" and r["objective"] is not None]
        if not rows:
            return None
        # Ties go to the earliest trial.
        key = (lambda r: (-r["objective"], r["number"])) if self.config.maximize else (lambda r: (r["objective"], r["number"]))
        return sorted(rows, key=key)[0]
