"""Training baselines, drift monitors and alarms (shared by server and SDK)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

DURATION = {"type": "string", "pattern": r"^\s*[0-9]{1,4}\s*[smhdw]\s*$"}
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}"
METRIC = {"type": "string", "pattern": (
    rf"^(endpoint/{_NAME}/(requests|requests_per_second|p50_ms|p95_ms|p99_ms|mean_ms|max_ms|status_4xx|status_5xx|"
    rf"error_rate)|monitor/{_NAME}/(drifted_features|[^/]{{1,128}}/(psi|ks|js|chi2_p)))$")}
STATISTIC_NAMES = ["psi", "ks", "js", "chi2_p"]
THRESHOLD_KEY = r"^([^:]{1,128}(:[^:]{1,128})*:)?(psi|ks|js|chi2_p)$"  # STATISTIC or FEATURE:STATISTIC


class BaselineRequest(BaseModel):
    dataset: str | None = Field(None, description="Dataset version (name:N) to compute from; default: the model's "
                                                  "training data (lineage.datasets.train).",
                                json_schema_extra={"pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}(:([1-9][0-9]{0,17}|latest))?$"})


class BaselineView(BaseModel):
    model: str = Field(description="The model version, name:N.")
    dataset: str
    status: str = Field(description="Pending | Ready | Failed")
    reason: str = ""
    rows: int = Field(0, description="Rows the statistics were computed on (a uniform sample when the data is large).")
    total_rows: int = 0
    features: int = 0
    statistics_key: str = ""
    constraints_key: str = ""
    created_at: dt.datetime
    updated_at: dt.datetime
    statistics: dict[str, Any] | None = Field(None, description="statistics.json (SageMaker Model Monitor's shape).")
    constraints: dict[str, Any] | None = Field(None, description="constraints.json (SageMaker Model Monitor's shape).")


class MonitorRequest(BaseModel):
    endpoint: str = Field(json_schema_extra={"pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"})
    baseline: str | None = Field(None, description="Model version whose baseline to compare with (name:N, "
                                 "name@alias); default: the model the endpoint serves.",
                                 json_schema_extra={"pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}([:@][A-Za-z0-9._-]{1,63})?$"})
    every: str = Field("5m", description="How often it runs, 1m to 7d.", json_schema_extra=DURATION)
    window: str = Field("1h", description="Captured requests of this long back are compared, 1m to 30d.",
                        json_schema_extra=DURATION)
    thresholds: dict[str, float] = Field(default_factory=dict, description="Statistic -> threshold: psi (0.2, up to "
                                         "10), ks (0.3), js (0.1), chi2_p (0.01), each above 0 (the last three up to 1). "
                                         "A key FEATURE:STATISTIC (mean_radius:psi) sets one feature's threshold; the "
                                         "feature must be in the baseline and the statistic of its kind (numbers: psi, "
                                         "ks; categories: js, chi2_p), else a 400 naming it.",
                                         json_schema_extra={"propertyNames": {"pattern": THRESHOLD_KEY}})


class MonitorRunView(BaseModel):
    id: int
    started_at: dt.datetime
    status: str = Field(description="Completed | NoData | Failed")
    message: str = ""
    rows: int = 0
    drifted_features: list[str] = Field(default_factory=list)
    features: list[dict[str, Any]] = Field(default_factory=list, description="Per feature: statistics, threshold, "
                                           "verdict.")
    violations: list[dict[str, Any]] = Field(default_factory=list, description="Data-quality violations (Model "
                                             "Monitor's constraint_violations).")


class MonitorView(BaseModel):
    name: str
    endpoint: str
    baseline: str
    every_seconds: int
    window_seconds: int
    thresholds: dict[str, float]
    next_run_at: dt.datetime
    last_run_at: dt.datetime | None = None
    created_at: dt.datetime
    created_by: str = ""
    runs: list[MonitorRunView] = Field(default_factory=list, description="The newest runs first (show only).")


class AlarmRequest(BaseModel):
    metric: str = Field(description="endpoint/<name>/<field> (requests, p50_ms, p95_ms, p99_ms, mean_ms, max_ms, "
                        "status_4xx, status_5xx, error_rate) or monitor/<name>/drifted_features or "
                        "monitor/<name>/<feature>/<psi|ks|js|chi2_p>.", json_schema_extra=METRIC)
    comparison: str = Field("above", json_schema_extra={"enum": ["above", "below"]})
    threshold: float = Field(json_schema_extra={"minimum": -1e12, "maximum": 1e12})
    datapoints: int = Field(1, description="M of 'M of N'.", json_schema_extra={"minimum": 1, "maximum": 100})
    evaluation_periods: int = Field(1, description="N of 'M of N'.", json_schema_extra={"minimum": 1, "maximum": 100})
    period: str = Field("1m", description="10s, 30s or whole minutes up to 1d.", json_schema_extra=DURATION)
    statistic: str = Field("avg", description="avg, min, max, sum, count or pNN (p50, p99).",
                           json_schema_extra={"pattern": r"^(avg|min|max|sum|count|p[0-9]{1,2}(\.[0-9])?)$"})
    missing: str = Field("missing", json_schema_extra={"enum": ["missing", "ignore", "breaching", "notBreaching"]})
    actions: list[str] = Field(default_factory=list, description="webhook=https://…, rollback (of the metric's "
                               "endpoint).", json_schema_extra={"items": {"type": "string",
                                                                         "pattern": r"^[a-z_-]+(=.+)?$"}})


class AlarmEventView(BaseModel):
    at: dt.datetime
    from_state: str
    to_state: str
    reason: str
    actions: list[dict[str, Any]] = Field(default_factory=list, description="What each action did: kind, target, "
                                          "ok, detail (failures included).")


class AlarmView(BaseModel):
    name: str
    metric: str
    statistic: str
    comparison: str
    threshold: float
    datapoints: int
    evaluation_periods: int
    period_seconds: int
    missing: str
    actions: list[dict[str, Any]]
    state: str = Field(description="OK | ALARM | INSUFFICIENT_DATA")
    state_reason: str
    state_since: dt.datetime
    evaluated_at: dt.datetime | None = None
    created_at: dt.datetime
    created_by: str = ""
    history: list[AlarmEventView] = Field(default_factory=list, description="State changes, newest first (show only).")
