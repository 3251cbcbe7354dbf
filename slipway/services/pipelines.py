"""Pipelines: definitions (checked at create), runs (desired state), and the engine that advances them.

A run's steps are rows written when the run is created. The pipelines controller calls
``PipelineService.advance`` each pass: it follows Running steps (their jobs), starts the ready ones
(process/train become ordinary jobs, named after the run and the attempt so that a restart adopts
the job it had started instead of starting another), evaluates conditions, skips the branch not
taken, retries failed jobs per step, and ends the run. One run per pipeline runs at a time; later
ones wait Pending. A process/train step whose cache key (type, resolved arguments, concrete input
versions, code digest — never the pipeline's version) matches an earlier Succeeded step reuses its
outputs: a cache hit, shown as ``cached_from``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import threading
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway.db import Database, utcnow
from slipway.db.models import (
    Event,
    ModelGroup,
    ModelVersion,
    Pipeline,
    PipelineRun,
    PipelineSchedule,
    PipelineStep,
    PipelineTrigger,
)
from slipway.errors import AlreadyExists, Conflict, Forbidden, InvalidArgument, NotFound, SlipwayError
from slipway.names import check_name
from slipway.schemas.jobs import CreateJobRequest
from slipway.schemas.pipelines import (
    ConditionStep,
    DeployStep,
    EvaluateStep,
    FailStep,
    PipelineRunView,
    PipelineSpec,
    PipelineView,
    ProcessStep,
    RegisterStep,
    ScheduleView,
    StepRunView,
    TrainStep,
    TransformStep,
    TriggerView,
    TuneStep,
)
from slipway.services.events import KINDS, TRIGGER_PREFIXES
from slipway.services.pipeline_graph import check_parameters, check_pipeline, evaluate, render

__all__ = ["PipelineService"]

log = logging.getLogger("slipway.pipelines")
RUN_STATUSES = ("Pending", "Running", "Succeeded", "Failed", "Stopped")
STEP_DONE = ("Succeeded", "Failed", "Skipped", "Stopped")
ACTIVE = ("Pending", "Running")


def _step_view(row: PipelineStep) -> StepRunView:
    end = row.ended_at or (utcnow() if row.started_at else None)
    return StepRunView(
        name=row.name, type=row.type, status=row.status, attempt=row.attempt, job=row.job_name,
        cache_key=row.cache_key, cached_from=row.cached_from, arguments=row.arguments or {},
        outputs=row.outputs or {}, message=row.message, started_at=row.started_at, ended_at=row.ended_at,
        duration_s=(end - row.started_at).total_seconds() if end and row.started_at else None)


def _run_view(pipeline: str, run: PipelineRun, steps: list[PipelineStep]) -> PipelineRunView:
    end = run.ended_at or (utcnow() if run.started_at else None)
    order = [s["name"] for s in run.definition["steps"]]
    rows = sorted(steps, key=lambda r: order.index(r.name) if r.name in order else len(order))
    return PipelineRunView(
        pipeline=pipeline, number=run.number, pipeline_version=run.pipeline_version, status=run.status,
        parameters=run.parameters or {}, started_by=run.started_by, failure_reason=run.failure_reason,
        created_at=run.created_at, started_at=run.started_at, ended_at=run.ended_at,
        duration_s=(end - run.started_at).total_seconds() if end and run.started_at else None,
        cache_hits=sum(1 for r in rows if r.cached_from), steps=[_step_view(r) for r in rows])


def _schedule_view(sc: PipelineSchedule) -> ScheduleView:
    return ScheduleView(cron=sc.cron, timezone=sc.timezone, parameters=sc.parameters or {},
                        next_run_at=sc.next_run_at, last_run_at=sc.last_run_at)


def _trigger_on(kind: str, subject: str) -> str:
    prefix = next((p for p, k in TRIGGER_PREFIXES.items() if k == kind), kind)
    return f"{prefix}:{subject}"


def _trigger_view(t: PipelineTrigger) -> TriggerView:
    return TriggerView(on=_trigger_on(t.event_kind, t.subject), event_kind=t.event_kind, subject=t.subject,
                       parameters=t.parameters or {}, created_at=t.created_at)


def next_fire(cron: str, timezone: str, after: dt.datetime) -> dt.datetime:
    """The first time after ``after`` that ``cron`` names, read in ``timezone``; in UTC."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    local = after.astimezone(ZoneInfo(timezone))
    nxt: dt.datetime = croniter(cron, local).get_next(dt.datetime)
    return nxt.astimezone(dt.UTC)


LIVE_PREFIX = "endpoint:"  # an evaluate step's model: the one live on that endpoint
_EVENT_REF = re.compile(r"\{\{\s*event\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _job_name(pipeline: str, run_id: int, step: str, attempt: int, limit: int = 63) -> str:
    """Unique across pipelines and runs (the run id is), stable across restarts; at most ``limit`` characters
    (59 for tuning jobs, whose trials add '-NNN')."""
    tail = f"-{run_id}-{step}-{attempt}"
    return (pipeline[: max(1, limit - len(tail))] + tail)[:limit].rstrip("-_.")


class PipelineService:
    def __init__(self, db: Database, platform: Any) -> None:
        self.db = db
        self.platform = platform  # training, datasets, promotion, registry, endpoints
        self.wakeup = threading.Event()
        self.clock = utcnow  # injectable (tests)

    # -- definitions -----------------------------------------------------------------------------

    def check(self, spec: PipelineSpec) -> dict[str, list[str]]:
        """Everything a definition can get wrong, refused now: graph, references, types, steps' own rules."""
        graph = check_pipeline(spec)
        for step in spec.steps:
            where = f"steps.{step.name}"
            if isinstance(step, (ProcessStep, TrainStep)):
                algorithm = getattr(step, "algorithm", None)
                if isinstance(step, TrainStep) and bool(algorithm) == bool(step.script):
                    raise InvalidArgument(f"{where}: a train step runs either an algorithm or a script; give "
                                          "exactly one.", {"field": f"{where}.algorithm", "value": algorithm})
                if step.script:
                    if not step.source_sha256:
                        raise InvalidArgument(
                            f"{where}: script {step.script!r} has no uploaded source (source_sha256). Create the "
                            "pipeline with the SDK or `slipway pipelines create -f FILE`, which upload source_dir.",
                            {"field": f"{where}.source_sha256", "value": None})
                    files = self.platform.training._source_files(step.source_sha256)
                    if step.script not in files:
                        raise InvalidArgument(f"{where}: script {step.script!r} is not in its source folder. Its "
                                              f"files: {', '.join(sorted(files)[:20])}.",
                                              {"field": f"{where}.script", "value": step.script})
                elif isinstance(step, ProcessStep) and not step.builtin:
                    raise InvalidArgument(f"{where}: a process step needs a script or a builtin.",
                                          {"field": f"{where}.script", "value": None})
                if isinstance(step, ProcessStep) and step.builtin:
                    self._check_builtin(step, where)
            if isinstance(step, TuneStep):
                self._check_tune(step, where)
            if isinstance(step, TransformStep) or (isinstance(step, EvaluateStep) and step.data):
                self._check_model_version(spec, step, where)
            if isinstance(step, EvaluateStep) and step.model.strip().startswith(LIVE_PREFIX):
                self._check_live(step, where)
            if isinstance(step, TransformStep) and "{{" not in step.output:
                check_name(step.output, "dataset")
        plain = {s.name for s in spec.steps if isinstance(s, EvaluateStep) and not s.data}
        for step in spec.steps:
            text = json.dumps(step.model_dump(mode="json", exclude={"name", "type"}))
            for target, output in re.findall(r"steps\.([A-Za-z0-9][A-Za-z0-9_-]*)\.(predictions|job)\b", text):
                if target in plain:
                    raise InvalidArgument(
                        f"steps.{step.name}: steps.{target}.{output} exists only for an evaluate step with data "
                        f"(a dataset to predict on); step {target!r} has none. Its outputs: metrics.",
                        {"field": f"steps.{step.name}", "value": f"steps.{target}.{output}", "expected": ["metrics"]})
            if isinstance(step, (RegisterStep, DeployStep)):
                name = step.model_name if isinstance(step, RegisterStep) else step.endpoint
                if "{{" not in name:
                    check_name(name, "model" if isinstance(step, RegisterStep) else "endpoint")
        return graph

    @staticmethod
    def _check_builtin(step: ProcessStep, where: str) -> None:
        """A built-in process step: not also a script; its parameters as `slipway process --builtin` checks
        them (values that are references are checked when the run gets there)."""
        from slipway.processing import check_parameters

        if step.script:
            raise InvalidArgument(f"{where}: a process step runs either a script or a builtin; give exactly one.",
                                  {"field": f"{where}.builtin", "value": step.builtin})
        plain = {k: v for k, v in step.parameters.items() if not (isinstance(v, str) and "{{" in v)}
        try:
            check_parameters(step.builtin, plain, list(step.inputs), list(step.outputs))
        except InvalidArgument as exc:
            field = str(exc.details.get("field", ""))
            field = f"{where}.parameters.{field.split('.', 1)[1]}" if field.startswith("hyperparameters.") \
                else f"{where}.{field}"
            raise InvalidArgument(f"{where}: {exc.message}", {**exc.details, "field": field}) from None

    @staticmethod
    def _check_live(step: EvaluateStep, where: str) -> None:
        """``model: endpoint:NAME`` (the endpoint's live model) is scored on ``data``: it has no validation
        metrics of its own."""
        endpoint = step.model.strip()[len(LIVE_PREFIX):].strip()
        if not step.data:
            raise InvalidArgument(
                f"{where}.model: {step.model!r} is the model live on an endpoint; evaluating it needs data (a "
                "labelled dataset version, the same test data as the evaluation it is compared with).",
                {"field": f"{where}.data", "value": None, "expected": "a dataset version"})
        if not endpoint:
            raise InvalidArgument(f"{where}.model: {step.model!r} names no endpoint; expected endpoint:NAME.",
                                  {"field": f"{where}.model", "value": step.model, "expected": "endpoint:NAME"})
        if "{{" not in endpoint:
            try:
                check_name(endpoint, "endpoint")
            except InvalidArgument as exc:
                raise InvalidArgument(f"{where}.model: {exc.message}", {**exc.details, "field": f"{where}.model"}) \
                    from None

    def _live_model(self, endpoint: str) -> str:
        """The model version an endpoint serves now: its live variant with the most traffic."""
        view = self.platform.endpoints.get(endpoint)
        variants = (view.live or view.desired or {}).get("variants", [])
        if not variants:
            raise InvalidArgument(f"Endpoint {endpoint!r} serves no model yet ({view.status}).",
                                  {"field": "model", "value": f"{LIVE_PREFIX}{endpoint}"})
        return str(max(variants, key=lambda v: float(v.get("weight", 0)))["model"])

    @staticmethod
    def _check_model_version(spec: PipelineSpec, step: EvaluateStep | TransformStep, where: str) -> None:
        """A batch transform (and an evaluate step on a dataset) serves a model version: a register step's
        version or a registry ref, not a train step's job."""
        m = re.fullmatch(r"\{\{\s*steps\.([A-Za-z0-9][A-Za-z0-9_-]*)\.model\s*\}\}", step.model.strip())
        if m and spec.step(m.group(1)).type in ("train", "tune"):
            raise InvalidArgument(
                f"{where}.model: {step.model} is a training job; a {step.type} step"
                f"{' with data' if step.type == 'evaluate' else ''} needs a model version. Register it first "
                f"and use '{{{{ steps.REGISTER.version }}}}', or give a registry ref (name:N).",
                {"field": f"{where}.model", "value": step.model, "expected": "a model version"})

    def _check_tune(self, step: TuneStep, where: str) -> None:
        """Ranges, strategy and parallelism of a tune step, as `slipway tune` checks them (its datasets may be
        references, known only when the run gets there)."""
        from slipway.schemas.tuning import CreateTuningRequest
        from slipway.tuning.strategies import check_strategy

        if step.max_parallel > step.max_trials:
            raise InvalidArgument(f"{where}: max_parallel ({step.max_parallel}) is larger than max_trials "
                                  f"({step.max_trials}).", {"field": f"{where}.max_parallel",
                                                            "value": step.max_parallel})
        fixed = {k: v for k, v in step.hyperparameters.items() if not (isinstance(v, str) and "{{" in v)}
        job = CreateJobRequest(algorithm=step.algorithm, entry_point=step.script, hyperparameters=fixed)
        req = CreateTuningRequest(job=job, objective=step.objective, ranges=step.ranges, strategy=step.strategy,
                                  max_trials=step.max_trials, max_parallel=step.max_parallel)
        try:
            check_strategy(req.strategy, self.platform.tuning._space(req))
        except InvalidArgument as exc:
            field = f"{where}.{exc.details.get('field', 'ranges')}"
            raise InvalidArgument(f"{where}: {exc.message}", {**exc.details, "field": field}) from None

    @staticmethod
    def _stored(spec: PipelineSpec) -> dict[str, Any]:
        data = spec.model_dump(mode="json", by_alias=True)
        for s in data["steps"]:
            s.pop("source_dir", None)  # the client's folder; the server keeps its sha256
        return data

    def create(self, name: str, spec: PipelineSpec, user: str = "", key: str | None = None) -> PipelineView:
        """Create the pipeline, or update it (a new version; running runs keep the definition they started on).
        ``key``: the API key of the call, whose policy limits the runs that act as the pipeline's owner."""
        check_name(name, "pipeline")
        if spec.name is not None and spec.name != name:
            raise InvalidArgument(f"The definition names pipeline {spec.name!r}, the request {name!r}. Make them "
                                  "agree or drop 'name' from the definition.", {"field": "name", "value": spec.name})
        self.check(spec)
        definition = self._stored(spec)
        now = utcnow()

        def _do(s: Session) -> PipelineView:
            p = s.execute(select(Pipeline).where(Pipeline.name == name).with_for_update()).scalar_one_or_none()
            if p is None:
                p = Pipeline(name=name, version=1, definition=definition, created_at=now, updated_at=now,
                             created_by=user, created_by_key=key)
                s.add(p)
            elif p.definition != definition:
                if user and user == p.created_by:
                    p.created_by_key = key  # the owner's latest key: its scheduled runs act with it
                p.version += 1
                p.definition, p.updated_at = definition, now
            s.flush()
            return self._view(s, p)

        try:
            return self.db.run(_do)  # type: ignore[no-any-return]
        except IntegrityError:
            raise AlreadyExists(f"Pipeline {name!r} was created at the same time; try again.",
                                {"field": "name", "value": name}) from None

    def _pipeline(self, s: Session, name: str) -> Pipeline:
        p = s.execute(select(Pipeline).where(Pipeline.name == name)).scalar_one_or_none()
        if p is None:
            raise NotFound(f"Pipeline {name!r} not found. See `slipway pipelines list`.",
                           {"field": "name", "value": name})
        return p

    def _view(self, s: Session, p: Pipeline) -> PipelineView:
        spec = PipelineSpec.model_validate(p.definition)
        last = s.execute(select(PipelineRun).where(PipelineRun.pipeline_id == p.id)
                         .order_by(PipelineRun.number.desc()).limit(1)).scalar_one_or_none()
        last_view = None
        if last is not None:
            steps = list(s.execute(select(PipelineStep).where(PipelineStep.run_id == last.id)).scalars())
            last_view = _run_view(p.name, last, steps)
        sched = s.execute(select(PipelineSchedule).where(PipelineSchedule.pipeline_id == p.id)).scalar_one_or_none()
        triggers = s.execute(select(PipelineTrigger).where(PipelineTrigger.pipeline_id == p.id)
                             .order_by(PipelineTrigger.id)).scalars()
        return PipelineView(name=p.name, version=p.version, description=spec.description, definition=spec,
                            graph=check_pipeline(spec), created_at=p.created_at, updated_at=p.updated_at,
                            created_by=p.created_by, last_run=last_view,
                            schedule=_schedule_view(sched) if sched else None,
                            triggers=[_trigger_view(t) for t in triggers])

    def get(self, name: str) -> PipelineView:
        with self.db.session() as s:
            return self._view(s, self._pipeline(s, name))

    def list(self) -> list[PipelineView]:
        with self.db.session() as s:
            return [self._view(s, p) for p in s.execute(select(Pipeline).order_by(Pipeline.name)).scalars()]

    def delete(self, name: str) -> PipelineView:
        def _do(s: Session) -> PipelineView:
            p = self._pipeline(s, name)
            active = s.scalar(select(func.count()).select_from(PipelineRun).where(
                PipelineRun.pipeline_id == p.id, PipelineRun.status.in_(ACTIVE))) or 0
            if active:
                raise Conflict(f"Pipeline {name!r} has {active} run(s) pending or running. Wait for them to end.",
                               {"field": "name", "value": name})
            view = self._view(s, p)
            s.delete(p)
            return view

        return self.db.run(_do)  # type: ignore[no-any-return]

    # -- runs ------------------------------------------------------------------------------------

    def start_run(self, name: str, parameters: dict[str, Any], started_by: str, user: str = "",
                  key: str | None = None) -> PipelineRunView:
        def _do(s: Session) -> PipelineRunView:
            p = s.execute(select(Pipeline).where(Pipeline.name == name).with_for_update()).scalar_one_or_none()
            if p is None:
                raise NotFound(f"Pipeline {name!r} not found. See `slipway pipelines list`.",
                               {"field": "name", "value": name})
            return self._new_run(s, p, parameters, started_by, user, key)

        view = self.db.run(_do)
        self.wakeup.set()
        return view  # type: ignore[no-any-return]

    def _new_run(self, s: Session, p: Pipeline, parameters: dict[str, Any], started_by: str,
                 user: str = "", key: str | None = None) -> PipelineRunView:
        """A Pending run and its step rows, in ``s``'s transaction. Its owner: ``user`` with ``key``, or (none
        given: a scheduled run) the pipeline's creator with the key it was created with."""
        spec = PipelineSpec.model_validate(p.definition)
        params = check_parameters(spec, parameters)
        number = (s.scalar(select(func.max(PipelineRun.number)).where(PipelineRun.pipeline_id == p.id)) or 0) + 1
        run = PipelineRun(pipeline_id=p.id, number=number, pipeline_version=p.version, definition=p.definition,
                          parameters=params, status="Pending", started_by=started_by, created_at=utcnow(),
                          created_by=user or p.created_by, created_by_key=key if user else p.created_by_key)
        s.add(run)
        s.flush()
        steps = [PipelineStep(run_id=run.id, name=st.name, type=st.type, status="Pending", attempt=0,
                              arguments={}, outputs={}, message="") for st in spec.steps]
        s.add_all(steps)
        s.flush()
        return _run_view(p.name, run, steps)

    # -- schedules and triggers ------------------------------------------------------------------

    def set_schedule(self, name: str, cron: str, timezone: str, parameters: dict[str, Any],
                     user: str = "") -> PipelineView:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from croniter import croniter

        if not croniter.is_valid(cron) or len(cron.split()) != 5:
            raise InvalidArgument(f"Cron expression {cron!r} is not valid. Expected five fields (minute hour "
                                  "day-of-month month day-of-week), e.g. '0 3 * * *'.",
                                  {"field": "cron", "value": cron, "expected": "MIN HOUR DOM MON DOW"})
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise InvalidArgument(f"Time zone {timezone!r} is not known. Expected an IANA name, e.g. Europe/Paris "
                                  "or UTC.", {"field": "timezone", "value": timezone}) from None
        nxt = next_fire(cron, timezone, self.clock())

        def _do(s: Session) -> PipelineView:
            p = self._pipeline(s, name)
            check_parameters(PipelineSpec.model_validate(p.definition), parameters)
            sc = s.execute(select(PipelineSchedule).where(PipelineSchedule.pipeline_id == p.id)).scalar_one_or_none()
            if sc is None:
                sc = PipelineSchedule(pipeline_id=p.id, created_by=user, last_run_at=None)
                s.add(sc)
            sc.cron, sc.timezone, sc.parameters, sc.next_run_at = cron, timezone, dict(parameters), nxt
            s.flush()
            return self._view(s, p)

        return self.db.run(_do)  # type: ignore[no-any-return]

    def remove_schedule(self, name: str) -> PipelineView:
        def _do(s: Session) -> PipelineView:
            p = self._pipeline(s, name)
            sc = s.execute(select(PipelineSchedule).where(PipelineSchedule.pipeline_id == p.id)).scalar_one_or_none()
            if sc is None:
                raise NotFound(f"Pipeline {name!r} has no schedule.", {"field": "name", "value": name})
            s.delete(sc)
            s.flush()
            return self._view(s, p)

        return self.db.run(_do)  # type: ignore[no-any-return]

    def fire_schedules(self) -> list[PipelineRunView]:
        """Start a run for each schedule that is due. After downtime that missed several times, one run
        (never a catch-up storm); the next time is counted from now."""
        now = self.clock()

        def _do(s: Session) -> list[PipelineRunView]:
            due = s.execute(select(PipelineSchedule).where(PipelineSchedule.next_run_at <= now)
                            .with_for_update(skip_locked=True)).scalars().all()
            out = []
            for sc in due:
                p = s.execute(select(Pipeline).where(Pipeline.id == sc.pipeline_id)).scalar_one()
                try:
                    out.append(self._new_run(s, p, dict(sc.parameters or {}),
                                             f"schedule:{sc.cron} ({sc.timezone})"))
                except SlipwayError as exc:  # parameters no longer fit an updated pipeline
                    log.warning("Schedule of pipeline %s did not start a run: %s", p.name, exc.message)
                sc.last_run_at = now
                sc.next_run_at = next_fire(sc.cron, sc.timezone, now)
            return out

        runs = self.db.run(_do)
        if runs:
            self.wakeup.set()
        return runs  # type: ignore[no-any-return]

    @staticmethod
    def parse_on(on: str) -> tuple[str, str]:
        prefix, sep, subject = on.partition(":")
        if not sep or prefix not in TRIGGER_PREFIXES or not subject.strip():
            raise InvalidArgument(
                f"Trigger {on!r} names no known event kind. Expected KIND:SUBJECT with KIND one of "
                f"{', '.join(TRIGGER_PREFIXES)} (e.g. dataset:reviews, alarm:cancer-drift).",
                {"field": "on", "value": on, "expected": sorted(TRIGGER_PREFIXES)})
        return TRIGGER_PREFIXES[prefix], subject.strip()

    def add_trigger(self, name: str, on: str, parameters: dict[str, Any], user: str = "",
                    key: str | None = None) -> PipelineView:
        kind, subject = self.parse_on(on)
        assert kind in KINDS

        def _do(s: Session) -> PipelineView:
            p = self._pipeline(s, name)
            spec = PipelineSpec.model_validate(p.definition)
            literal = {k: v for k, v in parameters.items() if not (isinstance(v, str) and _EVENT_REF.search(v))}
            unknown = sorted(set(parameters) - set(spec.parameters))
            if unknown:
                raise InvalidArgument(f"Unknown parameter(s) {', '.join(unknown)}. The pipeline declares: "
                                      f"{', '.join(spec.parameters) or 'none'}.",
                                      {"field": "parameters", "value": unknown, "expected": sorted(spec.parameters)})
            for k, v in literal.items():
                from slipway.services.pipeline_graph import coerce_parameter

                coerce_parameter(k, spec.parameters[k], v, f"parameters.{k}")
            t = s.execute(select(PipelineTrigger).where(
                PipelineTrigger.pipeline_id == p.id, PipelineTrigger.event_kind == kind,
                PipelineTrigger.subject == subject)).scalar_one_or_none()
            if t is None:  # only events from now on start runs
                last = s.scalar(select(func.max(Event.id))) or 0
                t = PipelineTrigger(pipeline_id=p.id, event_kind=kind, subject=subject, last_event_id=last,
                                    created_by=user, created_by_key=key)
                s.add(t)
            t.parameters = dict(parameters)
            s.flush()
            return self._view(s, p)

        return self.db.run(_do)  # type: ignore[no-any-return]

    def remove_trigger(self, name: str, on: str) -> PipelineView:
        kind, subject = self.parse_on(on)

        def _do(s: Session) -> PipelineView:
            p = self._pipeline(s, name)
            t = s.execute(select(PipelineTrigger).where(
                PipelineTrigger.pipeline_id == p.id, PipelineTrigger.event_kind == kind,
                PipelineTrigger.subject == subject)).scalar_one_or_none()
            if t is None:
                raise NotFound(f"Pipeline {name!r} has no trigger on {on}.", {"field": "on", "value": on})
            s.delete(t)
            s.flush()
            return self._view(s, p)

        return self.db.run(_do)  # type: ignore[no-any-return]

    def fire_triggers(self) -> list[PipelineRunView]:
        """Each new event a trigger matches starts one run; the trigger's cursor moves in the same
        transaction, so an event never starts two runs of a trigger, nor none."""

        def _do(s: Session) -> list[PipelineRunView]:
            out = []
            triggers = s.execute(select(PipelineTrigger).with_for_update(skip_locked=True)).scalars().all()
            for t in triggers:
                # A subject is the bare name ("reviews") or prefixed by its type ("alarm/cancer-drift", as the
                # alarms service writes it).
                prefix = _trigger_on(t.event_kind, "").rstrip(":")
                subjects = [t.subject, f"{prefix}/{t.subject}"]
                events = s.execute(select(Event).where(Event.id > t.last_event_id, Event.kind == t.event_kind,
                                                       Event.subject.in_(subjects)).order_by(Event.id)).scalars().all()
                for ev in events:
                    t.last_event_id = ev.id
                    payload = ev.payload or {}
                    if ev.kind == "alarm.state_changed" and payload.get("to", payload.get("state")) != "ALARM":
                        continue
                    values = {"subject": ev.subject, "kind": ev.kind, "id": ev.id, **(ev.payload or {})}
                    params = {k: _EVENT_REF.sub(lambda m, vals=values: str(vals.get(m.group(1), "")), v)
                              if isinstance(v, str) else v for k, v in (t.parameters or {}).items()}
                    p = s.execute(select(Pipeline).where(Pipeline.id == t.pipeline_id)).scalar_one()
                    try:
                        with s.begin_nested():
                            out.append(self._new_run(s, p, params, f"trigger:{_trigger_on(t.event_kind, t.subject)} "
                                                                   f"(event {ev.id})", t.created_by,
                                                      t.created_by_key))
                    except SlipwayError as exc:
                        log.warning("Trigger %s of pipeline %s did not start a run for event %s: %s",
                                    _trigger_on(t.event_kind, t.subject), p.name, ev.id, exc.message)
            return out

        runs = self.db.run(_do)
        if runs:
            self.wakeup.set()
        return runs  # type: ignore[no-any-return]

    def list_runs(self, name: str, limit: int = 50) -> list[PipelineRunView]:
        with self.db.session() as s:
            p = self._pipeline(s, name)
            runs = list(s.execute(select(PipelineRun).where(PipelineRun.pipeline_id == p.id)
                                  .order_by(PipelineRun.number.desc()).limit(limit)).scalars())
            out = []
            for r in runs:
                steps = list(s.execute(select(PipelineStep).where(PipelineStep.run_id == r.id)).scalars())
                out.append(_run_view(p.name, r, steps))
            return out

    def get_run(self, name: str, number: int) -> PipelineRunView:
        with self.db.session() as s:
            p = self._pipeline(s, name)
            run = s.execute(select(PipelineRun).where(PipelineRun.pipeline_id == p.id,
                                                      PipelineRun.number == number)).scalar_one_or_none()
            if run is None:
                raise NotFound(f"Pipeline {name!r} has no run {number}. See `slipway pipelines runs {name}`.",
                               {"field": "run", "value": number})
            steps = list(s.execute(select(PipelineStep).where(PipelineStep.run_id == run.id)).scalars())
            return _run_view(p.name, run, steps)

    # -- the engine ------------------------------------------------------------------------------

    def advance_all(self) -> None:
        """One pass: start the next Pending run of each pipeline that has none running; advance running ones."""
        with self.db.session() as s:
            rows = s.execute(select(PipelineRun.id, PipelineRun.pipeline_id, PipelineRun.status)
                             .where(PipelineRun.status.in_(ACTIVE)).order_by(PipelineRun.id)).all()
        running = {pid for _, pid, st in rows if st == "Running"}
        for run_id, pid, status in rows:
            if status == "Pending" and pid not in running:
                self._update_run(run_id, lambda r: (setattr(r, "status", "Running"),
                                                    setattr(r, "started_at", utcnow())))
                running.add(pid)
                status = "Running"
                if not self._owner_may_run(run_id):
                    continue
            if status == "Running":
                try:
                    self.advance(run_id)
                except Exception as exc:  # a bug or the database: fail the run, never the controller
                    log.exception("Advancing pipeline run %s failed", run_id)
                    self._update_run(run_id, lambda r, e=exc: self._end_run(r, "Failed", f"Internal error: {e}"))

    def _status(self, run_id: int) -> str:
        with self.db.session() as s:
            return str(s.scalar(select(PipelineRun.status).where(PipelineRun.id == run_id)))

    def _owner_may_run(self, run_id: int) -> bool:
        """A run starts only when its owner (who started it, added its trigger, or created its scheduled
        pipeline) is active and may run the pipeline; else it fails with the reason, its steps skipped."""
        with self.db.session() as s:
            run = s.execute(select(PipelineRun).where(PipelineRun.id == run_id)).scalar_one()
            name = s.execute(select(Pipeline.name).where(Pipeline.id == run.pipeline_id)).scalar_one()
            owner, key = run.created_by, run.created_by_key
        try:
            self._authorize(_Run(run_id, name, None, {}, owner, key), "pipelines:Run",  # type: ignore[arg-type]
                            f"pipeline/{name}")
            return True
        except SlipwayError as exc:
            reason = exc.message
            self._end_steps(run_id, "Skipped", f"Not run: {reason}")
            self._update_run(run_id, lambda r: self._end_run(r, "Failed", reason))
            return False

    def _end_steps(self, run_id: int, status: str, message: str, only: tuple[str, ...] = ("Pending",)) -> None:
        def _do(s: Session) -> None:
            for row in s.execute(select(PipelineStep).where(PipelineStep.run_id == run_id,
                                                            PipelineStep.status.in_(only))).scalars():
                row.status, row.message = status, message
                row.ended_at = utcnow()

        self.db.run(_do)

    def stop_run(self, name: str, number: int, user: str = "") -> PipelineRunView:
        """Stop a Pending or Running run: its running jobs are stopped (the ordinary job stop), a baking
        canary is rolled back, the run ends Stopped and the steps not yet run are Skipped."""
        def _do(s: Session) -> tuple[int, list[tuple[str, str, str | None, dict[str, Any]]]]:
            p = self._pipeline(s, name)
            run = s.execute(select(PipelineRun).where(PipelineRun.pipeline_id == p.id, PipelineRun.number == number)
                            .with_for_update()).scalar_one_or_none()
            if run is None:
                raise NotFound(f"Pipeline {name!r} has no run {number}. See `slipway pipelines runs {name}`.",
                               {"field": "run", "value": number})
            if run.status not in ACTIVE:
                raise Conflict(f"Run {name}#{number} already ended ({run.status}); there is nothing to stop.",
                               {"field": "run", "value": number, "status": run.status})
            self._end_run(run, "Stopped", f"Stopped by {user or 'a user'}.")
            running = [(r.name, r.type, r.job_name, dict(r.outputs or {})) for r in s.execute(
                select(PipelineStep).where(PipelineStep.run_id == run.id, PipelineStep.status == "Running")).scalars()]
            return run.id, running

        run_id, running = self.db.run(_do)
        for step, kind, job, outputs in running:
            note = ""
            try:
                if kind == "tune" and job:
                    self.platform.tuning.stop(job)
                elif kind in ("process", "train") and job:
                    self.platform.training.stop(job)
                elif kind in ("transform", "evaluate") and job:
                    self.platform.transforms.stop(job)
                elif kind == "deploy" and outputs.get("phase") == "baking":
                    endpoint = outputs["endpoint"]
                    try:
                        current = self.platform.endpoints.get(endpoint)
                    except NotFound:
                        current = None
                    with self.db.session() as s:
                        owner, key = s.execute(select(PipelineRun.created_by, PipelineRun.created_by_key)
                                               .where(PipelineRun.id == run_id)).one()
                    ctx = _Run(run_id, name, None, {}, owner or "", key)  # type: ignore[arg-type]
                    self._roll_back(ctx, endpoint, outputs, current)
                    note = "; the canary was rolled back"
            except (Conflict, NotFound):
                pass  # it ended on its own meanwhile
            self._update_step(run_id, step, status="Stopped",
                              message=f"Stopped by {user or 'a user'}" + (f" (job {job} stopped)" if job and
                                                                          kind != "deploy" else "") + note + ".")
        self._end_steps(run_id, "Skipped", "Not run: the run was stopped.")
        self.wakeup.set()
        return self.get_run(name, number)

    def _update_run(self, run_id: int, fn: Any) -> None:
        def _do(s: Session) -> None:
            fn(s.execute(select(PipelineRun).where(PipelineRun.id == run_id).with_for_update()).scalar_one())

        self.db.run(_do)

    @staticmethod
    def _end_run(run: PipelineRun, status: str, reason: str | None) -> None:
        run.status, run.failure_reason, run.ended_at = status, reason, utcnow()

    def _update_step(self, run_id: int, name: str, **values: Any) -> None:
        def _do(s: Session) -> None:
            row = s.execute(select(PipelineStep).where(PipelineStep.run_id == run_id, PipelineStep.name == name)
                            .with_for_update()).scalar_one()
            for k, v in values.items():
                setattr(row, k, v)
            if values.get("status") in STEP_DONE and row.ended_at is None:
                row.ended_at = utcnow()
            if values.get("status") in ("Running", *STEP_DONE) and row.started_at is None:
                row.started_at = utcnow()

        self.db.run(_do)

    def advance(self, run_id: int) -> None:
        with self.db.session() as s:
            run = s.execute(select(PipelineRun).where(PipelineRun.id == run_id)).scalar_one()
            pipeline = s.execute(select(Pipeline.name).where(Pipeline.id == run.pipeline_id)).scalar_one()
            spec = PipelineSpec.model_validate(run.definition)
            params, owner, key = dict(run.parameters or {}), run.created_by, run.created_by_key
            rows = {r.name: (r.status, r.attempt, r.job_name, dict(r.outputs or {}), dict(r.arguments or {}))
                    for r in s.execute(select(PipelineStep).where(PipelineStep.run_id == run_id)).scalars()}
        graph = check_pipeline(spec)
        ctx = _Run(run_id, pipeline, spec, params, owner, key)
        for _ in range(len(spec.steps) + 1):  # inline steps (condition, evaluate…) unblock others in the same pass
            if self._status(run_id) != "Running":
                return  # stopped meanwhile: `stop_run` ends its steps
            changed = False
            status = {n: r[0] for n, r in rows.items()}
            outputs = {n: r[3] for n, r in rows.items() if r[0] == "Succeeded"}
            for step in spec.steps:
                st, attempt, job, _, args = rows[step.name]
                if st == "Running":
                    changed = self._follow(ctx, step, attempt, job, args) or changed
                elif st == "Pending":
                    deps = [status[d] for d in graph[step.name]]
                    if any(d not in STEP_DONE for d in deps) or "Failed" in deps:
                        continue
                    skip = self._skip_reason(spec, step.name, graph, status, outputs)
                    if skip:
                        self._update_step(run_id, step.name, status="Skipped", message=skip)
                    else:
                        self._start(ctx, step, outputs)
                    changed = True
            with self.db.session() as s:
                rows = {r.name: (r.status, r.attempt, r.job_name, dict(r.outputs or {}), dict(r.arguments or {}))
                        for r in s.execute(select(PipelineStep).where(PipelineStep.run_id == run_id)).scalars()}
            if not changed:
                break
        status = {n: r[0] for n, r in rows.items()}
        if any(v == "Running" for v in status.values()):
            return
        # Nothing runs and the passes above reached a fixed point: what is still Pending waits on a failure.
        failed = [n for n, v in status.items() if v == "Failed"]
        if failed:
            with self.db.session() as s:
                msg = s.scalar(select(PipelineStep.message).where(PipelineStep.run_id == run_id,
                                                                  PipelineStep.name == failed[0]))
            for n in (n for n, v in status.items() if v == "Pending"):
                self._update_step(run_id, n, status="Skipped", message=f"Not run: step {failed[0]!r} failed.")
            self._update_run(run_id, lambda r: r.status == "Running" and self._end_run(
                r, "Failed", f"Step {failed[0]!r} failed: {msg}"))
        elif all(v in STEP_DONE for v in status.values()):
            self._update_run(run_id, lambda r: r.status == "Running" and self._end_run(r, "Succeeded", None))

    @staticmethod
    def _skip_reason(spec: PipelineSpec, name: str, graph: dict[str, list[str]], status: dict[str, str],
                     outputs: dict[str, dict[str, Any]]) -> str | None:
        for dep in graph[name]:
            if status[dep] == "Skipped":
                return f"Skipped: step {dep!r} was skipped."
            step = spec.step(dep)
            if isinstance(step, ConditionStep):
                result = outputs.get(dep, {}).get("result")
                if name in step.then and result is False:
                    return f"Skipped: condition {dep!r} was false."
                if name in step.else_ and result is True:
                    return f"Skipped: condition {dep!r} was true."
        return None

    # -- starting and following steps ------------------------------------------------------------

    def _start(self, ctx: _Run, step: Any, outputs: dict[str, dict[str, Any]]) -> None:
        name = step.name
        try:
            if isinstance(step, (ProcessStep, TrainStep)):  # TuneStep is a TrainStep
                self._start_job(ctx, step, outputs)
            elif isinstance(step, TransformStep) or (isinstance(step, EvaluateStep) and step.data):
                self._start_transform(ctx, step, outputs)
            elif isinstance(step, EvaluateStep):
                job = str(render(step.model, ctx.params, outputs))
                view = self.platform.training.get(job)
                self._update_step(ctx.run_id, name, status="Succeeded", arguments={"model": job},
                                  outputs={"metrics": dict(view.final_metrics)},
                                  message=f"Metrics of job {job} on its validation data.")
            elif isinstance(step, ConditionStep):
                result = evaluate(step.when, ctx.params, outputs)
                self._update_step(ctx.run_id, name, status="Succeeded", outputs={"result": result},
                                  message=f"The condition is {'true' if result else 'false'}.")
            elif isinstance(step, RegisterStep):
                job = str(render(step.model, ctx.params, outputs))
                model_name = str(render(step.model_name, ctx.params, outputs))
                args = {"model": job, "model_name": model_name, "approval": step.approval}
                self._authorize(ctx, "models:Register", f"model/{model_name}")
                if step.approval == "Approved":
                    self._authorize(ctx, "models:Approve", f"model/{model_name}")
                self._update_step(ctx.run_id, name, status="Running", arguments=args, job_name=job)
                self._register(ctx, name, args)
            elif isinstance(step, DeployStep):
                args = {"endpoint": str(render(step.endpoint, ctx.params, outputs)),
                        "model": str(render(step.model, ctx.params, outputs)), "strategy": step.strategy,
                        "canary_percent": step.canary_percent, "bake_seconds": step.bake_seconds,
                        "replicas": step.replicas,
                        "alarms": [str(render(a, ctx.params, outputs)) for a in step.alarms]}
                try:
                    self.platform.endpoints.get(args["endpoint"])
                    action = "endpoints:Update"
                except NotFound:
                    action = "endpoints:Create"
                self._authorize(ctx, action, f"endpoint/{args['endpoint']}")
                self._update_step(ctx.run_id, name, status="Running", arguments=args)
                self._deploy(ctx, name, args)
            elif isinstance(step, FailStep):
                message = str(render(step.message, ctx.params, outputs))
                self._update_step(ctx.run_id, name, status="Failed", message=message)
        except SlipwayError as exc:
            self._update_step(ctx.run_id, name, status="Failed", message=exc.message)

    def _job_request(self, step: ProcessStep | TrainStep, ctx: _Run,
                     outputs: dict[str, dict[str, Any]]) -> CreateJobRequest:
        datasets = self.platform.datasets
        inputs = {ch: datasets.get(str(render(ref, ctx.params, outputs))).ref for ch, ref in step.inputs.items()}
        common: dict[str, Any] = {"inputs": inputs, "max_runtime": step.max_runtime,
                                  "memory_limit_mb": step.memory_limit_mb, "framework": step.framework,
                                  "cpus": step.cpus, "gpus": step.gpus}
        if step.script:
            common.update(entry_point=step.script, source_sha256=step.source_sha256)
        if isinstance(step, ProcessStep):
            if step.builtin:
                common.update(builtin=step.builtin, hyperparameters=render(step.parameters, ctx.params, outputs))
            return CreateJobRequest(processing=True, outputs=render(step.outputs, ctx.params, outputs),
                                    arguments=[str(a) for a in render(step.arguments, ctx.params, outputs)],
                                    **common)
        return CreateJobRequest(
            algorithm=step.algorithm, hyperparameters=render(step.hyperparameters, ctx.params, outputs),
            label=step.label, validation_split=step.validation_split,
            metric_definitions=[{"name": k, "regex": v} for k, v in step.metric_definitions.items()], **common)

    @staticmethod
    def cache_key(step_type: str, request: Any) -> str:
        """Type, resolved arguments, concrete input versions and the code's digest: nothing of the pipeline."""
        body = {"type": step_type, "request": request.model_dump(mode="json", exclude_none=True)}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def _cached(self, key: str, run_id: int) -> tuple[str, dict[str, Any]] | None:
        with self.db.session() as s:
            row = s.execute(
                select(PipelineStep, PipelineRun.number, Pipeline.name)
                .join(PipelineRun, PipelineRun.id == PipelineStep.run_id)
                .join(Pipeline, Pipeline.id == PipelineRun.pipeline_id)
                .where(PipelineStep.cache_key == key, PipelineStep.status == "Succeeded",
                       PipelineStep.run_id != run_id)
                .order_by(PipelineStep.id.desc()).limit(1)).first()
            if row is None:
                return None
            step, number, pipeline = row
            return step.cached_from or f"{pipeline}#{number}/{step.name}", dict(step.outputs or {})

    @staticmethod
    def _tuning_request(step: TuneStep, job: CreateJobRequest) -> Any:
        from slipway.schemas.tuning import CreateTuningRequest

        return CreateTuningRequest(job=job, objective=step.objective, maximize=step.maximize, ranges=step.ranges,
                                   strategy=step.strategy, max_trials=step.max_trials,
                                   max_parallel=step.max_parallel, seed=step.seed)

    def _cache_hit(self, ctx: _Run, step: Any, key: str, args: dict[str, Any]) -> bool:
        """When ``step`` caches and an earlier run's step had the same key: take its outputs (Succeeded)."""
        hit = self._cached(key, ctx.run_id) if step.cache else None
        if hit is None:
            return False
        source, old = hit
        self._update_step(ctx.run_id, step.name, status="Succeeded", cache_key=key, cached_from=source,
                          arguments=args, outputs=old, job_name=old.get("job"),
                          message=f"Cache hit: the outputs of {source}.")
        return True

    def _start_job(self, ctx: _Run, step: ProcessStep | TrainStep, outputs: dict[str, dict[str, Any]]) -> None:
        request: Any = self._job_request(step, ctx, outputs)
        if isinstance(step, TuneStep):
            request = self._tuning_request(step, request)
        key = self.cache_key(step.type, request)
        args = request.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        if self._cache_hit(ctx, step, key, args):
            return
        job = _job_name(ctx.pipeline, ctx.run_id, step.name, 0, 59 if isinstance(step, TuneStep) else 63)
        self._update_step(ctx.run_id, step.name, status="Running", cache_key=key, arguments=args, job_name=job,
                          attempt=0, message="")
        self._submit(ctx, step, job, args)

    def _submit(self, ctx: _Run, step: Any, job: str, args: dict[str, Any]) -> None:
        if isinstance(step, TuneStep):
            self._authorize(ctx, "tuning:Create", f"tuning/{job}")
        else:
            self._authorize(ctx, "jobs:Create", f"job/{job}")
        try:
            if isinstance(step, TuneStep):
                from slipway.schemas.tuning import CreateTuningRequest

                self.platform.tuning.create(job, CreateTuningRequest.model_validate(args), ctx.owner)
                self._audit(ctx, "tuning:Create", f"tuning/{job}", f"step {step.name}")
            else:
                self.platform.training.create(job, CreateJobRequest.model_validate(args), ctx.owner)
                self._audit(ctx, "jobs:Create", f"job/{job}", f"step {step.name}")
        except AlreadyExists:
            pass  # created before a restart: follow that one

    def _follow(self, ctx: _Run, step: Any, attempt: int, job: str | None, args: dict[str, Any]) -> bool:
        """Follow a Running step; True when it ended."""
        if isinstance(step, RegisterStep):
            self._register(ctx, step.name, args)
            return True
        if isinstance(step, DeployStep):
            return self._deploy(ctx, step.name, args)
        assert job is not None
        if isinstance(step, TransformStep) or (isinstance(step, EvaluateStep) and step.data):
            return self._follow_transform(ctx, step, attempt, job, args)
        try:
            view: Any = (self.platform.tuning if isinstance(step, TuneStep) else self.platform.training).get(job)
        except NotFound:  # the server stopped between recording the step and creating its job
            self._submit(ctx, step, job, args)
            return False
        if not view.done:
            return False
        best = getattr(view, "best_trial", None)
        if view.status == "Completed" and (not isinstance(step, TuneStep) or (best is not None and best.job)):
            out: dict[str, Any] = {"job": job}
            if isinstance(step, ProcessStep):
                out["outputs"] = dict(view.outputs)
            elif isinstance(step, TuneStep):
                metrics = dict(self.platform.training.get(best.job).final_metrics)
                out.update(model=best.job, metrics=metrics)
            else:
                out.update(model=job, metrics=dict(view.final_metrics))
            self._update_step(ctx.run_id, step.name, status="Succeeded", outputs=out,
                              message=f"Best trial: {best.job} ({step.objective} = {best.objective:.6g})."
                              if isinstance(step, TuneStep) else "")
        else:
            lines = [ln.strip() for ln in (view.failure_reason or view.status).splitlines() if ln.strip()]
            reason = " / ".join(lines)[:500]
            if attempt < step.retries:
                nxt = _job_name(ctx.pipeline, ctx.run_id, step.name, attempt + 1,
                                59 if isinstance(step, TuneStep) else 63)
                self._update_step(ctx.run_id, step.name, attempt=attempt + 1, job_name=nxt,
                                  message=f"Attempt {attempt + 1} failed ({reason}); retrying.")
                try:
                    self._submit(ctx, step, nxt, args)
                except SlipwayError as exc:  # the owner may no longer create it
                    self._update_step(ctx.run_id, step.name, status="Failed", message=exc.message)
            else:
                self._update_step(ctx.run_id, step.name, status="Failed", message=f"Job {job} {view.status}: {reason}")
        return True

    def _start_transform(self, ctx: _Run, step: TransformStep | EvaluateStep,
                         outputs: dict[str, dict[str, Any]]) -> None:
        """A batch transform job (the transforms controller runs it in sandboxed replicas): a transform step's
        predictions, or an evaluate step's on its test data (the prediction alone, scored when it ends)."""
        from slipway.schemas.transforms import TransformRequest

        job = _job_name(ctx.pipeline, ctx.run_id, step.name, 0)
        requested = str(render(step.model, ctx.params, outputs)).strip()
        live = requested[len(LIVE_PREFIX):].strip() if requested.startswith(LIVE_PREFIX) else None
        model = self.platform.registry.resolve(self._live_model(live) if live else requested)
        data = self.platform.datasets.get(str(render(step.data, ctx.params, outputs))).ref
        if isinstance(step, TransformStep):
            req = TransformRequest(model=model, data=data, output=str(render(step.output, ctx.params, outputs)),
                                   join=step.join, batch=step.batch)
        else:
            tail = f"-{step.name}-predictions"
            req = TransformRequest(model=model, data=data, output=ctx.pipeline[: 63 - len(tail)] + tail,
                                   channel=step.channel, join=False)
        args = req.model_dump(mode="json", exclude_defaults=True) | {"model": model, "data": data}
        # Cached like a job step: its type and the resolved request (concrete model and data versions, output,
        # channel, join, batch) — the same predictions are not computed twice.
        key = self.cache_key(step.type, req)
        if self._cache_hit(ctx, step, key, args):
            return
        self._authorize(ctx, "transforms:Create", f"transform/{job}")
        self._update_step(ctx.run_id, step.name, status="Running", arguments=args, job_name=job, message="",
                          cache_key=key)
        try:
            self.platform.transforms.create(job, req, ctx.owner)
            self._audit(ctx, "transforms:Create", f"transform/{job}", f"step {step.name}")
        except AlreadyExists:
            pass  # created before a restart: follow that one

    def _follow_transform(self, ctx: _Run, step: TransformStep | EvaluateStep, attempt: int, job: str,
                          args: dict[str, Any]) -> bool:
        from slipway.schemas.transforms import TransformRequest

        try:
            view = self.platform.transforms.get(job)
        except NotFound:  # the server stopped between recording the step and creating its job
            self.platform.transforms.create(job, TransformRequest.model_validate(args), ctx.owner)
            return False
        if view.status not in ("Completed", "Failed", "Stopped"):
            return False
        if view.status != "Completed" or not view.output_version:
            lines = [ln.strip() for ln in (view.failure_reason or view.status).splitlines() if ln.strip()]
            reason = " / ".join(lines)[:500]
            if attempt < step.retries:  # the step's policy, as for job steps: a new transform job per attempt
                nxt = _job_name(ctx.pipeline, ctx.run_id, step.name, attempt + 1)
                self._update_step(ctx.run_id, step.name, attempt=attempt + 1, job_name=nxt,
                                  message=f"Attempt {attempt + 1} failed ({reason}); retrying.")
                try:
                    self._authorize(ctx, "transforms:Create", f"transform/{nxt}")
                    self.platform.transforms.create(nxt, TransformRequest.model_validate(args), ctx.owner)
                    self._audit(ctx, "transforms:Create", f"transform/{nxt}", f"step {step.name}")
                except AlreadyExists:
                    pass  # created before a restart: follow that one
                except SlipwayError as exc:  # the owner may no longer create it
                    self._update_step(ctx.run_id, step.name, status="Failed", message=exc.message)
                return True
            self._update_step(ctx.run_id, step.name, status="Failed",
                              message=f"Transform {job} {view.status}: {view.failure_reason or view.status}"[:1000])
            return True
        if isinstance(step, TransformStep):
            self._update_step(ctx.run_id, step.name, status="Succeeded",
                              outputs={"output": view.output_version, "job": job},
                              message=f"Predictions of {view.model} on {view.data}: {view.output_version}.")
            return True
        try:
            metrics = self._score(view.data, view.output_version, view.channel)
        except SlipwayError as exc:
            self._update_step(ctx.run_id, step.name, status="Failed", message=exc.message)
            return True
        self._update_step(ctx.run_id, step.name, status="Succeeded",
                          outputs={"metrics": metrics, "predictions": view.output_version, "job": job},
                          message=f"Metrics of {view.model} on {view.data} ({len(metrics)}).")
        return True

    def _score(self, data: str, predictions: str, channel: str) -> dict[str, float]:
        """Metrics of predictions against the data's label: ``<channel>:accuracy``, ``:f1`` (macro) for a
        classifier's labels; ``:rmse``, ``:mae``, ``:r2`` for a regressor's values."""
        import io

        import numpy as np
        import pandas as pd

        def frame(ref: str) -> tuple[Any, pd.DataFrame]:
            view, chunks = self.platform.datasets.open_content(ref)
            raw = b"".join(chunks)
            return view, (pd.read_csv(io.BytesIO(raw)) if view.format == "csv"
                          else pd.read_json(io.BytesIO(raw), lines=True))

        view, truth = frame(data)
        _, pred = frame(predictions)
        if not view.label or view.label not in truth.columns:
            raise InvalidArgument(f"Dataset {data!r} has no label column to score predictions against. Push it "
                                  "with --label COLUMN.", {"field": "data", "value": data})
        y = truth[view.label]
        if "label" in pred.columns:
            from sklearn.metrics import f1_score

            t, p = y.astype(str).to_numpy(), pred["label"].astype(str).to_numpy()
            return {f"{channel}:accuracy": float(np.mean(t == p)),
                    f"{channel}:f1": float(f1_score(t, p, average="macro"))}
        column = next((c for c in ("value", "prediction", "score") if c in pred.columns), None)
        if column is None:
            raise InvalidArgument(f"The predictions {predictions} have no label or value column to score "
                                  f"(columns: {', '.join(map(str, pred.columns))}).",
                                  {"field": "model", "value": predictions})
        t, v = y.to_numpy(dtype=float), pred[column].to_numpy(dtype=float)
        err = v - t
        total = float(np.sum((t - t.mean()) ** 2))
        return {f"{channel}:rmse": float(np.sqrt(np.mean(err ** 2))), f"{channel}:mae": float(np.mean(np.abs(err))),
                f"{channel}:r2": 1.0 - float(np.sum(err ** 2)) / total if total else 0.0}

    def _register(self, ctx: _Run, name: str, args: dict[str, Any]) -> None:
        """Register the job's model once: after a restart, a version already made from the job is adopted."""
        job, model_name = args["model"], args["model_name"]
        with self.db.session() as s:
            existing = [v.version for v in s.execute(
                select(ModelVersion).join(ModelGroup).where(ModelGroup.name == model_name)).scalars()
                if (v.source or {}).get("job") == job]
        if existing:
            ref = f"{model_name}:{max(existing)}"
        else:
            ref = self.platform.promotion.register(job, model_name, ctx.owner,
                                                   description=f"Registered by pipeline {ctx.pipeline}").ref
            self._audit(ctx, "models:Register", f"model/{model_name}", f"step {name}: {ref} from job {job}")
        if args["approval"] == "Approved":
            self.platform.registry.set_approval(ref, "Approved", f"pipeline {ctx.pipeline}", ctx.owner)
            self._audit(ctx, "models:Approve", f"model/{model_name}", f"step {name}: {ref} Approved")
        self._update_step(ctx.run_id, name, status="Succeeded", outputs={"version": ref}, message=f"Registered {ref}.")

    def _deploy(self, ctx: _Run, name: str, args: dict[str, Any]) -> bool:
        """All at once, or a canary variant with a share of the traffic promoted after the bake time."""
        from slipway.schemas.endpoints import VariantSpec

        endpoints, endpoint = self.platform.endpoints, args["endpoint"]
        ref = self.platform.registry.resolve(args["model"])
        with self.db.session() as s:
            phase = dict(s.scalar(select(PipelineStep.outputs).where(
                PipelineStep.run_id == ctx.run_id, PipelineStep.name == name)) or {})
        full = [VariantSpec(name="primary", model=ref, replicas=args["replicas"])]
        try:
            current = endpoints.get(endpoint)
        except NotFound:
            current = None
        if not phase:
            if current is None:
                endpoints.create(endpoint, full, ctx.owner)
                self._audit(ctx, "endpoints:Create", f"endpoint/{endpoint}", f"step {name}: {ref}")
                self._update_step(ctx.run_id, name, status="Succeeded", outputs={"endpoint": endpoint},
                                  message=f"Created endpoint {endpoint} with {ref}.")
                return True
            if args["strategy"] == "canary":
                p = float(args["canary_percent"])
                live = [VariantSpec.model_validate(v) for v in current.desired.get("variants", [])
                        if v.get("name") != "canary"]
                total = sum(v.weight for v in live) or 1.0
                variants = [v.model_copy(update={"weight": v.weight / total * (100 - p)}) for v in live]
                variants.append(VariantSpec(name="canary", model=ref, weight=p, replicas=args["replicas"]))
                endpoints.update(endpoint, variants, ctx.owner)
                self._audit(ctx, "endpoints:Update", f"endpoint/{endpoint}", f"step {name}: canary {ref} at {p:g}%")
                until = self.clock() + dt.timedelta(seconds=float(args["bake_seconds"]))
                watch = args.get("alarms") or []
                self._update_step(ctx.run_id, name, outputs={
                    "endpoint": endpoint, "phase": "baking", "promote_at": until.isoformat(),
                    "previous": [v.model_dump(mode="json") for v in live]},
                    message=f"Canary {ref} takes {p:g}% of {endpoint}'s traffic until {until:%H:%M:%S}"
                            + (f"; alarms {', '.join(watch)} roll it back." if watch else "."))
                return False
            endpoints.update(endpoint, full, ctx.owner)
            self._audit(ctx, "endpoints:Update", f"endpoint/{endpoint}", f"step {name}: {ref}")
            self._update_step(ctx.run_id, name, status="Succeeded", outputs={"endpoint": endpoint},
                              message=f"Updated endpoint {endpoint} to {ref}.")
            return True
        for alarm in args.get("alarms") or []:  # checked first: an alarm at the last moment still rolls back
            try:
                view = self.platform.alarms.get(alarm, history=0)
            except NotFound as exc:
                self._roll_back(ctx, endpoint, phase, current)
                self._update_step(ctx.run_id, name, status="Failed", outputs={"endpoint": endpoint},
                                  message=f"Canary {ref} rolled back: {exc.message}")
                return True
            if view.state == "ALARM":
                self._roll_back(ctx, endpoint, phase, current)
                self._update_step(ctx.run_id, name, status="Failed",
                                  outputs={"endpoint": endpoint, "rolled_back_by": alarm},
                                  message=f"Canary {ref} rolled back: alarm {alarm!r} is in ALARM: {view.state_reason}")
                return True
        if self.clock() >= dt.datetime.fromisoformat(phase["promote_at"]):
            endpoints.update(endpoint, full, ctx.owner)
            self._audit(ctx, "endpoints:Update", f"endpoint/{endpoint}", f"step {name}: canary {ref} promoted")
            self._update_step(ctx.run_id, name, status="Succeeded", outputs={"endpoint": endpoint},
                              message=f"Canary {ref} baked and now takes all of {endpoint}'s traffic.")
            return True
        return False

    def _roll_back(self, ctx: _Run, endpoint: str, phase: dict[str, Any], current: Any) -> None:
        """Back to what served before the canary: the endpoint's rollback when the canary went live, else
        the variants recorded when it started (the canary's deployment had not finished)."""
        from slipway.schemas.endpoints import VariantSpec

        endpoints = self.platform.endpoints
        live = (current.live or {}).get("variants", []) if current is not None else []
        if any(v.get("name") == "canary" for v in live):
            try:
                endpoints.rollback(endpoint, ctx.owner)
                self._audit(ctx, "endpoints:Rollback", f"endpoint/{endpoint}", "canary rolled back")
                return
            except Conflict:
                pass
        previous = [VariantSpec.model_validate(v) for v in phase.get("previous") or []]
        if previous:
            endpoints.update(endpoint, previous, ctx.owner, kind="rollback")
            self._audit(ctx, "endpoints:Rollback", f"endpoint/{endpoint}", "canary rolled back")

    def _authorize(self, ctx: _Run, action: str, resource: str) -> None:
        """A run acts as its owner, with the key it was set up with: Forbidden (the step fails with it, and the
        refusal is in the audit trail) when the owner's role or that key's policy does not allow it, the owner
        is disabled, or the key was revoked."""
        try:
            self.platform.auth.authorize_user(ctx.owner, action, resource, f"Pipeline {ctx.pipeline!r} (run as "
                                              f"{ctx.owner or 'nobody'!r})", key_id=ctx.key)
        except Forbidden as exc:
            self._audit(ctx, action, resource, exc.message, outcome="denied", status=403)
            raise

    def _audit(self, ctx: _Run, action: str, resource: str, message: str, outcome: str = "allowed",
               status: int = 200) -> None:
        """What a run did (or was refused), in the audit trail, as the pipeline's owner with its key (method
        PIPELINE; source: the run)."""
        try:
            self.platform.audit.record(user=ctx.owner, key_id=ctx.key or "", action=action, resource=resource,
                                       method="PIPELINE", path=f"/api/v1/pipelines/{ctx.pipeline}/runs",
                                       source=f"pipeline run {ctx.run_id}", request_id="", outcome=outcome,
                                       status=status, message=message)
        except Exception:  # never fail a step over the trail; the log says what was lost
            log.exception("Could not record audit event %s %s of pipeline %s", action, resource, ctx.pipeline)


class _Run:
    def __init__(self, run_id: int, pipeline: str, spec: PipelineSpec, params: dict[str, Any], owner: str,
                 key: str | None = None) -> None:
        self.run_id, self.pipeline, self.spec, self.params, self.owner = run_id, pipeline, spec, params, owner
        self.key = key  # the owner's API key the run acts with (None: the owner's role alone)
