"""Training job and algorithm shapes on the wire."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TERMINAL = ("Completed", "Failed", "Stopped")


class MetricDefinition(BaseModel):
    name: str = Field(..., description="Metric name, e.g. 'rmse'.")
    regex: str = Field(..., description="Regex over log lines whose first group is the value.")


class CreateJobRequest(BaseModel):
    """Exactly one of ``algorithm`` (a built-in), ``entry_point`` (a script in the uploaded source) or, for a
    processing job, ``builtin`` (built-in processing)."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["algorithm"], "properties": {"algorithm": {"type": "string", "minLength": 1}}},
        {"required": ["entry_point"], "properties": {"entry_point": {"type": "string", "minLength": 1}}},
        {"required": ["builtin"], "properties": {"builtin": {"type": "string", "minLength": 1}}}]})

    algorithm: str | None = None
    builtin: Literal["split", "scale", "one-hot", "impute"] | None = Field(None, description=(
        "Processing jobs: built-in processing instead of a script (docs/pipelines.md); its parameters are "
        "the hyperparameters (split: train/validation/test fractions, stratify, seed; scale: method; impute: "
        "strategy; columns; label)."))
    entry_point: str | None = Field(None, description="Script path inside the source folder, e.g. train.py.")
    source_sha256: str | None = Field(None, description="sha256 returned by PUT /api/v1/jobs/{name}/source.")
    framework: str | None = Field(None, description="sklearn, pytorch, keras or custom (scripts).")
    inputs: dict[str, str] = Field(default_factory=dict, description="Channel name -> dataset version (name:N).")
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    label: str | None = Field(None, description="Target column (default: the dataset version's label).")
    validation_split: float | None = Field(None, gt=0, lt=1, description="Share of train held out for evaluation.")
    metric_definitions: list[MetricDefinition] = Field(default_factory=list)
    max_runtime: int | None = Field(None, ge=1, description="Seconds before the job is stopped.")
    memory_limit_mb: int | None = Field(None, ge=16, description="Address-space limit of the job's processes.")
    cpus: float | None = Field(None, gt=0, le=1024, description=(
        "CPUs the job asks of the scheduler (Ray: num_cpus of its actor; default 1). The local executor runs "
        "jobs here regardless (job_concurrency limits them)."))
    gpus: float | None = Field(None, ge=0, le=64, description=(
        "GPUs the job asks of the scheduler (Ray: num_gpus of its actor; default 0)."))
    secrets: list[str] = Field(default_factory=list, max_length=64, description=(
        "Names of secrets (slipway secrets set NAME) whose values the job gets as environment variables, "
        "named after the secret ('-' and '.' become '_'); the values are redacted from its log."))
    processing: bool = Field(False, description=(
        "A processing job (SageMaker Processing): the script reads inputs from /opt/ml/processing/input/<channel> "
        "and writes outputs to /opt/ml/processing/output/<channel>; each output becomes a new dataset version."))
    outputs: dict[str, str] = Field(default_factory=dict, description=(
        "Processing jobs: output channel -> dataset name its files are pushed to as a new version."))
    arguments: list[str] = Field(default_factory=list, max_length=256, description=(
        "Processing jobs: command-line arguments of the script; /opt/ml/… paths point into the job's folder."))


class StatusTransition(BaseModel):
    status: str
    start_time: dt.datetime
    end_time: dt.datetime | None = None
    message: str = ""


class JobView(BaseModel):
    name: str
    kind: str
    algorithm: str | None
    framework: str
    entry_point: str | None
    source_sha256: str | None
    inputs: dict[str, str]
    hyperparameters: dict[str, Any]
    label: str | None
    problem_type: str | None
    validation_split: float | None
    metric_definitions: list[MetricDefinition]
    max_runtime: int
    memory_limit_mb: int | None
    cpus: float | None = None
    gpus: float | None = None
    secrets: list[str] = Field(default_factory=list, description="Names of the secrets the job gets (no values).")
    outputs: dict[str, str] = Field(default_factory=dict, description=(
        "Processing jobs: output channel -> the dataset version it became (or the dataset name until then)."))
    arguments: list[str] = Field(default_factory=list)
    status: str
    secondary_status: str
    transitions: list[StatusTransition]
    failure_reason: str | None
    final_metrics: dict[str, float]
    model_available: bool
    created_at: dt.datetime
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_s: float | None
    created_by: str

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


class MetricPoint(BaseModel):
    value: float
    step: int | None
    timestamp: dt.datetime


class JobMetrics(BaseModel):
    name: str
    status: str
    final: dict[str, float]
    series: dict[str, list[MetricPoint]]


class SourceUpload(BaseModel):
    sha256: str
    size: int


class HyperparameterView(BaseModel):
    name: str
    type: str
    default: Any
    range: str
    choices: list[Any] | None
    nullable: bool
    help: str


class AlgorithmView(BaseModel):
    name: str
    description: str
    problem_types: list[str]
    input_kinds: list[str]
    supervised: bool
    framework: str = "sklearn"
    hyperparameters: list[HyperparameterView]
    search_space: dict[str, dict[str, Any]]
