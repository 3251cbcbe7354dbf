"""Tuning jobs: validate a search, run its trials as training jobs, keep the best visible."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway.algorithms.base import check_objective, check_range_types, suggest
from slipway.db import Database
from slipway.db.models.tuning import TuningJob
from slipway.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from slipway.names import check_name
from slipway.schemas import Page
from slipway.schemas.jobs import CreateJobRequest
from slipway.schemas.tuning import CreateTuningRequest, TrialView, TuningJobView
from slipway.tuning.driver import TrialStatus, TuningConfig, TuningDriver, open_storage
from slipway.tuning.space import Param, SearchSpace, parse_ranges
from slipway.tuning.strategies import check_strategy, make_pruner

__all__ = ["TuningService", "JobTrialBackend", "space_from_algorithm"]

ACTIVE = ("InProgress", "Stopping")
# A trial job is named <tuning>-<NNN>, so a tuning name leaves room for the suffix.
MAX_NAME = 59


def space_from_algorithm(spec: dict[str, dict[str, Any]]) -> SearchSpace:
    """An algorithm's declared search space ({"type", "low", "high", "log", "choices"}) as Params."""
    space: SearchSpace = {}
    for name, d in spec.items():
        kind = d.get("type", "float")
        if kind == "categorical" or "choices" in d:
            space[name] = Param(name, "categorical", choices=tuple(d["choices"]))
        else:
            space[name] = Param(name, "int" if kind == "int" else "float", d["low"], d["high"], bool(d.get("log")))
    return space


class JobTrialBackend:
    """Trials as training jobs of the platform."""

    def __init__(self, training: Any, template: CreateJobRequest, user: str) -> None:
        self.training = training
        self.template = template
        self.user = user

    def launch(self, tuning_name: str, number: int, params: dict[str, Any]) -> str:
        name = f"{tuning_name}-{number:03d}"
        spec = self.template.model_copy(update={"hyperparameters": {**self.template.hyperparameters, **params}})
        try:
            self.training.create(name, spec, user=self.user)
        except AlreadyExists:
            pass  # created before a crash; the job carries on under the same name
        return name

    def poll(self, job_name: str, objective: str) -> TrialStatus:
        try:
            view = self.training.get(job_name)
        except NotFound:
            return TrialStatus("missing")
        series = self.training.metrics(job_name).series.get(objective, [])
        inter = [(int(p.step), float(p.value)) for p in series if p.step is not None]
        if view.status in ("Pending", "InProgress", "Stopping"):
            return TrialStatus("running", intermediate=inter)
        if view.status == "Completed":
            return TrialStatus("completed", intermediate=inter, final=dict(view.final_metrics))
        if view.status == "Stopped":
            return TrialStatus("stopped", intermediate=inter, reason=view.failure_reason or view.secondary_status)
        return TrialStatus("failed", intermediate=inter, reason=view.failure_reason or "failed")

    def stop(self, job_name: str) -> None:
        try:
            self.training.stop(job_name)
        except (Conflict, NotFound):
            pass


class TuningService:
    def __init__(self, db: Database, training: Any, algorithms: Any) -> None:
        self.db = db
        self.training = training
        self.algorithms = algorithms  # callable: name -> Algorithm (raises NotFound/InvalidArgument)
        self._storage: Any = None
        self._storage_lock = threading.Lock()

    @property
    def storage(self) -> Any:
        """Optuna's storage in our database, created once (the API and the controller share it)."""
        with self._storage_lock:
            if self._storage is None:
                try:
                    self._storage = open_storage(self.db.url)
                except IntegrityError:  # another process created Optuna's tables at the same moment
                    self._storage = open_storage(self.db.url)
            return self._storage

    # -- create ------------------------------------------------------------------------------

    def _space(self, req: CreateTuningRequest) -> SearchSpace:
        algo = self.algorithms(req.job.algorithm) if req.job.algorithm else None
        space = parse_ranges(req.ranges)
        if algo is not None:
            known = [h.name for h in algo.hyperparameters]
            for name, p in list(space.items()):
                if name not in known:
                    raise InvalidArgument(
                        f"The {req.job.algorithm} algorithm has no hyperparameter {name!r}.{suggest(name, known)} "
                        f"Known: {', '.join(known)}.",
                        {"field": "range", "value": name, "expected": known},
                    )
                spec = next(r for r in req.ranges if r.partition("=")[0].strip() == name)
                bounds = list(p.choices) if p.kind == "categorical" else [p.low, p.high]
                kind = check_range_types(algo, name, p.kind, bounds, spec)
                if kind != p.kind:
                    space[name] = replace(p, kind=kind, low=int(p.low), high=int(p.high))  # type: ignore[arg-type]
            if not space:
                space = space_from_algorithm(algo.search_space)
        if not space:
            raise InvalidArgument(
                "Nothing to tune: give at least one --range NAME=MIN:MAX (scripts have no default search space).",
                {"field": "ranges"},
            )
        for name in space:
            if name in req.job.hyperparameters:
                raise InvalidArgument(
                    f"Hyperparameter {name!r} is both fixed (--hp) and tuned (--range). Keep one.",
                    {"field": "hyperparameters", "value": name},
                )
        return space

    def create(self, name: str, req: CreateTuningRequest, user: str = "") -> TuningJobView:
        check_name(name, "tuning job")
        if len(name) > MAX_NAME:
            raise InvalidArgument(
                f"The tuning job name {name!r} is longer than {MAX_NAME} characters (trials are named {name}-NNN).",
                {"field": "name", "value": name},
            )
        if req.max_parallel > req.max_trials:
            raise InvalidArgument(
                f"max_parallel ({req.max_parallel}) is larger than max_trials ({req.max_trials}). "
                "Expected max_parallel <= max_trials.",
                {"field": "max_parallel", "value": req.max_parallel, "expected": f"<= {req.max_trials}"},
            )
        if not req.objective.strip():
            raise InvalidArgument("The objective metric is empty. Expected a metric name, e.g. validation:accuracy.",
                                  {"field": "objective"})
        space = self._space(req)
        check_strategy(req.strategy, space)
        make_pruner(req.early_stopping)
        # A bad dataset, label, hyperparameter or objective fails now, not in every trial after they all ran.
        checked = self.training.validate(req.job)
        if req.job.algorithm:
            has_validation = "validation" in req.job.inputs or bool(req.job.validation_split)
            check_objective(self.algorithms(req.job.algorithm), checked["problem"], req.objective, has_validation)
        if req.warm_start_from:
            src = self.get(req.warm_start_from)
            if src.objective != req.objective:
                raise InvalidArgument(
                    f"Warm start from {src.name!r} optimised {src.objective!r}, not {req.objective!r}.",
                    {"field": "warm_start_from", "value": src.name},
                )

        def _insert(s: Session) -> None:
            if s.scalar(select(TuningJob.id).where(TuningJob.name == name)) is not None:
                raise AlreadyExists(f"Tuning job {name!r} already exists. Pick another --name.",
                                    {"field": "name", "value": name})
            s.add(TuningJob(
                name=name, status="InProgress", strategy=req.strategy, objective=req.objective, maximize=req.maximize,
                space={k: p.to_dict() for k, p in space.items()}, max_trials=req.max_trials,
                max_parallel=req.max_parallel, max_runtime=req.max_runtime, early_stopping=req.early_stopping,
                seed=req.seed, warm_start_from=req.warm_start_from, template=req.job.model_dump(mode="json"),
                counters={}, created_by=user, started_at=dt.datetime.now(dt.timezone.utc),
            ))

        self.db.run(_insert)
        if req.warm_start_from:
            self.driver(name).warm_start(f"slipway-tuning-{req.warm_start_from}")
        return self.get(name)

    # -- running -----------------------------------------------------------------------------

    def _row(self, s: Session, name: str) -> TuningJob:
        row = s.execute(select(TuningJob).where(TuningJob.name == name)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"Tuning job {name!r} not found. See `slipway tuning list`.", {"field": "name", "value": name})
        return row

    def _config(self, row: TuningJob) -> TuningConfig:
        return TuningConfig(
            name=row.name, space={k: Param.from_dict(v) for k, v in row.space.items()}, objective=row.objective,
            maximize=row.maximize, strategy=row.strategy, max_trials=row.max_trials, max_parallel=row.max_parallel,
            early_stopping=row.early_stopping, seed=row.seed,
        )

    def driver(self, name: str) -> TuningDriver:
        with self.db.session() as s:
            row = self._row(s, name)
            config, template, user = self._config(row), CreateJobRequest.model_validate(row.template), row.created_by
        return TuningDriver(config, self.storage, JobTrialBackend(self.training, template, user))

    def active(self) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(select(TuningJob.name).where(TuningJob.status.in_(ACTIVE)).order_by(TuningJob.id)))

    def advance(self, name: str) -> None:
        """One reconcile pass of one tuning job (called by the tuning controller)."""
        with self.db.session() as s:
            row = self._row(s, name)
            status, started, max_runtime = row.status, row.started_at, row.max_runtime
        driver = self.driver(name)
        if status == "Stopping":
            driver.stop_all()
            self._finish(name, "Stopped", None, driver)
            return
        now = dt.datetime.now(dt.timezone.utc)
        if max_runtime and started and (now - started).total_seconds() > max_runtime:
            driver.stop_all()
            self._finish(name, "Stopped", f"MaxRuntimeExceeded: the tuning job ran over {max_runtime} s", driver)
            return
        result = driver.step()
        if result.done:
            self._finish(name, "Failed" if result.failed_reason else "Completed", result.failed_reason or None, driver)
        else:
            self._record(name, driver)

    def _summary(self, driver: TuningDriver) -> tuple[dict[str, int], dict[str, Any] | None]:
        rows = driver.trials()
        counters = {k: 0 for k in ("completed", "running", "pending", "failed", "pruned", "stopped", "warm_start")}
        for r in rows:
            key = {"Completed": "completed", "Running": "running", "Pending": "pending", "Failed": "failed",
                   "Pruned": "pruned", "Stopped": "stopped", "WarmStart": "warm_start"}.get(r["status"])
            if key:
                counters[key] += 1
        return counters, driver.best()

    def _record(self, name: str, driver: TuningDriver, **fields: Any) -> None:
        counters, best = self._summary(driver)

        def _do(s: Session) -> None:
            row = self._row(s, name)
            row.counters = counters
            row.best_trial = best
            row.best_objective = best["objective"] if best else None
            for k, v in fields.items():
                setattr(row, k, v)

        self.db.run(_do)

    def _finish(self, name: str, status: str, reason: str | None, driver: TuningDriver) -> None:
        self._record(name, driver, status=status, failure_reason=reason, ended_at=dt.datetime.now(dt.timezone.utc))

    def stop(self, name: str) -> TuningJobView:
        def _do(s: Session) -> None:
            row = self._row(s, name)
            if row.status not in ACTIVE:
                raise Conflict(f"Tuning job {name!r} is {row.status}; only a running tuning job can be stopped.",
                               {"field": "status", "value": row.status})
            row.status = "Stopping"

        self.db.run(_do)
        return self.get(name)

    def resume(self, name: str) -> TuningJobView:
        """Carry on after a stop, a failure or a crash: finished trials are kept, stopped ones rerun."""

        def _do(s: Session) -> None:
            row = self._row(s, name)
            if row.status == "Completed":
                raise Conflict(f"Tuning job {name!r} is already Completed; start a new one with --warm-start {name}.",
                               {"field": "status", "value": row.status})
            if row.status in ACTIVE:
                return
            row.status = "InProgress"
            row.failure_reason = None
            row.ended_at = None
            row.started_at = dt.datetime.now(dt.timezone.utc)

        self.db.run(_do)
        return self.get(name)

    # -- reading -----------------------------------------------------------------------------

    def _view(self, row: TuningJob, trials: list[dict[str, Any]] | None) -> TuningJobView:
        space = {k: Param.from_dict(v) for k, v in row.space.items()}
        return TuningJobView(
            name=row.name, status=row.status, strategy=row.strategy, objective=row.objective, maximize=row.maximize,
            ranges={k: p.describe() for k, p in space.items()}, max_trials=row.max_trials,
            max_parallel=row.max_parallel, max_runtime=row.max_runtime, early_stopping=row.early_stopping,
            seed=row.seed, warm_start_from=row.warm_start_from, template=row.template,
            failure_reason=row.failure_reason, counters=row.counters or {},
            best_trial=TrialView(**row.best_trial) if row.best_trial else None,
            trials=[TrialView(**t) for t in trials or []],
            created_at=row.created_at, created_by=row.created_by, started_at=row.started_at, ended_at=row.ended_at,
        )

    def get(self, name: str) -> TuningJobView:
        with self.db.session() as s:
            row = self._row(s, name)
            config, maximize = self._config(row), row.maximize
        trials = TuningDriver(config, self.storage, _NoBackend()).trials()
        done = [t for t in trials if t["objective"] is not None and t["status"] in ("Completed", "WarmStart")]
        rest = [t for t in trials if t not in done]
        done.sort(key=lambda t: (-t["objective"] if maximize else t["objective"], t["number"]))
        with self.db.session() as s:
            return self._view(self._row(s, name), done + sorted(rest, key=lambda t: t["number"]))

    def list(self, status: str | None = None, limit: int = 50, offset: int = 0) -> Page[TuningJobView]:
        with self.db.session() as s:
            q = select(TuningJob)
            if status:
                q = q.where(TuningJob.status == status)
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.execute(q.order_by(TuningJob.id.desc()).limit(limit).offset(offset)).scalars().all()
            items = [self._view(r, None) for r in rows]
        nxt = str(offset + limit) if offset + limit < total else None
        return Page[TuningJobView](items=items, total=total, next_page_token=nxt)

    def best_job(self, name: str) -> str:
        view = self.get(name)
        if view.best_trial is None or not view.best_trial.job:
            raise Conflict(f"Tuning job {name!r} has no completed trial yet ({view.status}).",
                           {"field": "name", "value": name})
        return view.best_trial.job

    def count(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count(TuningJob.id))) or 0


class _NoBackend:
    """Reading trials needs no backend."""

    def launch(self, *a: Any) -> str:
        raise RuntimeError("read-only")

    def poll(self, *a: Any) -> TrialStatus:
        raise RuntimeError("read-only")

    def stop(self, *a: Any) -> None:
        raise RuntimeError("read-only")
