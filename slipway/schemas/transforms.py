"""Batch transform: a model version's predictions over a dataset version (SageMaker's CreateTransformJob)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from slipway.names import MODEL_REF_SCHEMA, NAME_SCHEMA, REF_SCHEMA


class TransformRequest(BaseModel):
    """Exactly one of ``model`` (temporary replicas of a model version) or ``endpoint`` (an endpoint's replicas)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": ["model"], "properties": {"model": {"type": "string"}}},
        {"required": ["endpoint"], "properties": {"endpoint": {"type": "string"}}}]})

    model: str | None = Field(None, description="The model version: name:N, name:latest or name@alias (temporary "
                              "replicas are started). Give this or endpoint.", json_schema_extra=MODEL_REF_SCHEMA)
    endpoint: str | None = Field(None, description="An existing endpoint whose replicas answer the requests (they "
                                 "count as its load for its autoscaler). Give this or model.",
                                 json_schema_extra=NAME_SCHEMA)
    data: str = Field(description="The input dataset version (name:N or name): a CSV or JSON-lines dataset, or a "
                      "folder of files.", json_schema_extra=REF_SCHEMA)
    channel: str = Field("test", description="The input's channel name (--data test=cancer-test:1).",
                         json_schema_extra=NAME_SCHEMA)
    output: str = Field(description="The dataset the predictions become a new version of.",
                        json_schema_extra=NAME_SCHEMA)
    split: Literal["line", "none"] | None = Field(
        None, description="SplitType: line (rows in mini-batches; in a folder, the lines of each .csv or .jsonl file) "
        "or none (each file whole in one request). Default: line for a CSV or JSON-lines dataset, none for a folder.")
    batch: int = Field(500, ge=1, le=100000, description="Rows per request at most (BatchStrategy MultiRecord, "
                                                          "MaxRecords); 1 is SingleRecord.")
    parallel: int = Field(2, ge=1, le=64, description="Requests in flight at once (MaxConcurrentTransforms).")
    max_payload_mb: float = Field(6.0, gt=0, le=100, description="MaxPayloadInMB: a request's body at most; a "
                                  "batch over it is cut in smaller ones (also capped by max_payload_bytes).")
    join: bool = Field(True, description="JoinSource Input: each output row is the input row and its prediction; "
                                         "false: the prediction alone.")
    retries: int = Field(3, ge=0, le=10, description="Tries again for a batch that failed for a transient reason.")


class TransformView(BaseModel):
    name: str
    model: str
    endpoint: str | None = Field(None, description="The endpoint whose replicas answered, when the job used one.")
    data: str
    channel: str
    output: str
    options: dict[str, Any]
    status: str = Field(description="Pending | InProgress | Completed | Failed | Stopping | Stopped")
    failure_reason: str = ""
    failed_rows: list[int] | None = Field(None, description="Input rows (0-based) of the request that failed.")
    rows_total: int = 0
    rows_done: int = 0
    batches_total: int = 0
    batches_done: int = 0
    retries: int = 0
    output_version: str | None = None
    created_at: dt.datetime
    created_by: str
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
