"""Pipeline shapes: one schema for YAML files, Python (``slipway.pipelines``) and the wire.

A pipeline has typed ``parameters`` and ``steps``; a step's string values may hold references,
``{{ params.min_accuracy }}``, ``{{ steps.train.model }}``,
``{{ steps.evaluate.metrics['validation:accuracy'] }}``, ``{{ steps.prep.outputs.clean }}``.
The server checks the graph (references, cycles, types) when the pipeline is created.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, Union

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from slipway.names import NAME_SCHEMA

PARAMETER_TYPES = ("string", "integer", "float", "boolean")
STEP_TYPES = ("process", "train", "tune", "evaluate", "transform", "condition", "register", "deploy", "fail")
OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in")
STEP_NAME_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"}


class Parameter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["string", "integer", "float", "boolean"] = "string"
    default: Any = Field(None, description="Value when a run does not give one; none: the run must give it.")
    description: str = ""


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(description="Step name, unique in the pipeline (it is part of its jobs' names).",
                      min_length=1, max_length=40, pattern=STEP_NAME_SCHEMA["pattern"])
    depends_on: list[str] = Field(default_factory=list, description="Steps that must end first (besides those "
                                                                    "its references name).")
    retries: int = Field(0, ge=0, le=10, description="Times a failed job of this step is tried again.")
    cache: bool = Field(True, description="Reuse the outputs of an identical earlier step (same cache key).")


class _Code(BaseModel):
    script: str | None = Field(None, description="Entry point inside the source folder, e.g. prep.py.")
    source_dir: str | None = Field(None, description="Client side: the folder to upload (relative to the YAML "
                                                     "file); the server keeps its sha256.")
    source_sha256: str | None = Field(None, description="The uploaded source folder (PUT /api/v1/jobs/NAME/source).")
    framework: str | None = None
    max_runtime: int | None = Field(None, ge=1)
    memory_limit_mb: int | None = Field(None, ge=16)
    cpus: float | None = Field(None, gt=0, le=1024, description="CPUs the step's job asks of a Ray cluster "
                                                                "(default 1), as `slipway train --cpus`.")
    gpus: float | None = Field(None, ge=0, le=64, description="GPUs the step's job asks of a Ray cluster "
                                                              "(default 0).")


class ProcessStep(_Step, _Code):
    type: Literal["process"] = "process"
    builtin: Literal["split", "scale", "one-hot", "impute"] | None = Field(
        None, description="Built-in processing instead of a script (split, scale, one-hot, impute).")
    parameters: dict[str, Any] = Field(default_factory=dict, description="The built-in's parameters, e.g. "
                                       "{train: 0.8, test: 0.2, seed: 1} for split.")
    inputs: dict[str, str] = Field(default_factory=dict, description="Channel -> dataset version.")
    outputs: dict[str, str] = Field(default_factory=dict, description="Channel -> dataset to push a version to.")
    arguments: list[str] = Field(default_factory=list)


class TrainStep(_Step, _Code):
    type: Literal["train"] = "train"
    algorithm: str | None = None
    inputs: dict[str, str] = Field(default_factory=dict, description="Channel -> dataset version.")
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    validation_split: float | None = Field(None, gt=0, lt=1)
    metric_definitions: dict[str, str] = Field(default_factory=dict, description="Metric name -> regex.")


class TuneStep(TrainStep):
    """A tuning job whose trials are this train step; ``model`` is the best trial's job."""

    type: Literal["tune"] = "tune"  # type: ignore[assignment]
    objective: str = Field(min_length=1, description="Metric to optimise, e.g. validation:accuracy.")
    maximize: bool = True
    ranges: list[str] = Field(default_factory=list, description="NAME=MIN:MAX[:int][:log] or NAME=A,B,C.")
    strategy: str = "bayesian"
    max_trials: int = Field(6, ge=1, le=1000)
    max_parallel: int = Field(1, ge=1, le=64)
    seed: int | None = 0


class EvaluateStep(_Step):
    type: Literal["evaluate"] = "evaluate"
    model: str = Field(description="A train step's model, e.g. '{{ steps.train.model }}' (its validation metrics); "
                                   "with data: a model version, e.g. '{{ steps.register.version }}' or 'reviews:3', "
                                   "or 'endpoint:NAME': the model live on that endpoint (its variant with the "
                                   "most traffic) when the step runs.")
    data: str | None = Field(None, description="A labelled dataset version (a test split, e.g. 'reviews-test:1'): "
                                               "the model's predictions on it (a batch transform) scored against "
                                               "its label, as metrics '<channel>:<metric>'.")
    channel: str = Field("test", description="Prefix of the metrics computed on data (test:accuracy).",
                         pattern="^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


class TransformStep(_Step):
    """Batch predictions of a model version over a dataset version, kept as a new version of ``output``."""

    type: Literal["transform"] = "transform"
    model: str = Field(description="A model version: '{{ steps.register.version }}' or a registry ref "
                                   "(name:N, name:latest, name@alias).")
    data: str = Field(description="The input dataset version (CSV or JSON lines), e.g. '{{ params.data }}'.")
    output: str = Field(description="The dataset the predictions become a new version of.",
                        json_schema_extra=NAME_SCHEMA)
    join: bool = Field(True, description="Each output row is the input row and its prediction; false: the "
                                         "prediction alone.")
    batch: int = Field(500, ge=1, le=100000, description="Rows per request at most.")


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: Literal["==", "!=", "<", "<=", ">", ">=", "in"]
    left: Any
    right: Any
    margin: float | str | None = Field(None, description="Ordering only: added to right before comparing "
                                       "(left >= right + margin), a number or a reference to one, e.g. "
                                       "'{{ params.margin }}'.")


class AllOf(BaseModel):
    model_config = ConfigDict(extra="forbid")

    all: list[Condition] = Field(min_length=1)


class AnyOf(BaseModel):
    model_config = ConfigDict(extra="forbid")

    any: list[Condition] = Field(min_length=1)


class NotOf(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    not_: Condition = Field(alias="not")


Condition = Union[Comparison, AllOf, AnyOf, NotOf]  # noqa: UP007 (a forward reference)
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


class ConditionStep(_Step):
    type: Literal["condition"] = "condition"
    when: Condition = Field(description="{op, left, right}, {all: […]}, {any: […]} or {not: …}.")
    then: list[str] = Field(default_factory=list, description="Steps that run when the condition holds.")
    else_: list[str] = Field(default_factory=list, alias="else",
                             description="Steps that run when it does not (the other branch is skipped).")


class RegisterStep(_Step):
    type: Literal["register"] = "register"
    model: str = Field(description="A train step's model, e.g. '{{ steps.train.model }}'.")
    model_name: str = Field(description="Model group to register a version in.", json_schema_extra=NAME_SCHEMA)
    approval: Literal["PendingManualApproval", "Approved"] = "PendingManualApproval"


class DeployStep(_Step):
    type: Literal["deploy"] = "deploy"
    endpoint: str = Field(json_schema_extra=NAME_SCHEMA)
    model: str = Field(description="A model version, e.g. '{{ steps.register.version }}'.")
    strategy: Literal["all-at-once", "canary"] = "all-at-once"
    canary_percent: float = Field(10.0, gt=0, lt=100, validation_alias=AliasChoices("canary_percent", "percent"),
                                  description="Canary: share of traffic of the new model (also: percent).")
    bake_seconds: float = Field(60.0, ge=0, le=86400, validation_alias=AliasChoices("bake_seconds", "bake"),
                                description="Canary: time before it takes all the traffic (also: bake, e.g. 2m).")
    alarms: list[Annotated[str, Field(json_schema_extra=NAME_SCHEMA)]] = Field(
        default_factory=list, max_length=20,
        description="Canary: alarms that roll it back when one is in ALARM during the bake time.")
    replicas: int = Field(1, ge=1, le=64)

    @field_validator("bake_seconds", mode="before")
    @classmethod
    def _bake(cls, v: Any) -> Any:
        """``bake: 2m`` as well as ``bake_seconds: 120``."""
        if isinstance(v, str):
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", v)
            if m is None:
                raise ValueError(f"bake {v!r}: expected seconds or a duration like 90s, 2m or 1h")
            return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        return v


class FailStep(_Step):
    type: Literal["fail"] = "fail"
    message: str = "The pipeline failed."


Step = Annotated[Union[ProcessStep, TrainStep, TuneStep, EvaluateStep, TransformStep, ConditionStep,  # noqa: UP007
                       RegisterStep, DeployStep, FailStep], Field(discriminator="type")]


class PipelineSpec(BaseModel):
    """A pipeline definition (what `slipway pipelines create NAME -f FILE` sends)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="Optional in a file; the URL names the pipeline.")
    description: str = ""
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1, max_length=100)

    def step(self, name: str) -> Any:
        return next(s for s in self.steps if s.name == name)


class ScheduleRequest(BaseModel):
    cron: str = Field(min_length=1, max_length=128, description="Five-field cron expression, e.g. '0 3 * * *'.")
    timezone: str = Field(min_length=1, max_length=64, description="IANA time zone the cron reads in, e.g. "
                                                                   "Europe/Paris (explicit: no server default).")
    parameters: dict[str, Any] = Field(default_factory=dict)


class ScheduleView(BaseModel):
    cron: str
    timezone: str
    parameters: dict[str, Any]
    next_run_at: dt.datetime
    last_run_at: dt.datetime | None


class TriggerRequest(BaseModel):
    on: str = Field(min_length=3, max_length=300, description="KIND:SUBJECT, e.g. dataset:reviews, alarm:cancer-drift, "
                                                               "model:cancer, model-approved:cancer, job:NAME.",
                    json_schema_extra={"pattern": "^[a-z-]+:.+$"})
    parameters: dict[str, Any] = Field(default_factory=dict, description=(
        "Run parameters; '{{ event.ref }}', '{{ event.subject }}' or '{{ event.KEY }}' take values from the event."))


class TriggerView(BaseModel):
    on: str
    event_kind: str
    subject: str
    parameters: dict[str, Any]
    created_at: dt.datetime


class PipelineView(BaseModel):
    name: str
    version: int
    description: str
    definition: PipelineSpec
    graph: dict[str, list[str]] = Field(description="Step -> the steps it depends on.")
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str
    last_run: PipelineRunView | None = None
    schedule: ScheduleView | None = None
    triggers: list[TriggerView] = Field(default_factory=list)


class StartRunRequest(BaseModel):
    parameters: dict[str, Any] = Field(default_factory=dict)


class StepRunView(BaseModel):
    name: str
    type: str
    status: str
    attempt: int
    job: str | None
    cache_key: str | None
    cached_from: str | None = Field(description="The earlier step whose outputs a cache hit reused.")
    arguments: dict[str, Any]
    outputs: dict[str, Any]
    message: str
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_s: float | None


class PipelineRunView(BaseModel):
    pipeline: str
    number: int
    pipeline_version: int
    status: str
    parameters: dict[str, Any]
    started_by: str
    failure_reason: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_s: float | None
    cache_hits: int
    steps: list[StepRunView]

    @property
    def done(self) -> bool:
        return self.status in ("Succeeded", "Failed", "Stopped")


PipelineView.model_rebuild()
