"""Model registry shapes on the wire."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Approval = Literal["PendingManualApproval", "Approved", "Rejected"]


class ModelVersionView(BaseModel):
    name: str
    version: int
    ref: str
    framework: str
    problem_type: str | None
    signature: dict[str, Any]
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    source: dict[str, Any]
    approval: str
    approval_reason: str = ""
    approval_by: str = ""
    approval_at: dt.datetime | None = None
    aliases: list[str] = Field(default_factory=list)
    used_by: list[str] = Field(default_factory=list, description="Endpoints serving this version.")
    description: str = ""
    size: int
    sha256: str
    created_at: dt.datetime
    created_by: str
    runtime: str = Field(default="", description="What serves it: onnxruntime (verified export) or its framework.")
    runtime_reason: str = ""
    baseline: dict[str, Any] | None = Field(default=None, description="The training baseline (show only): status, "
                                            "dataset, rows, reason; None when there is none.")


class ModelSummary(BaseModel):
    name: str
    description: str
    versions: int
    latest: ModelVersionView | None
    aliases: dict[str, int]
    created_at: dt.datetime
    created_by: str


class ModelEventView(BaseModel):
    model: str
    kind: str
    alias: str | None
    version: int | None
    from_value: str | None = Field(alias="from", default=None)
    to_value: str | None = Field(alias="to", default=None)
    reason: str
    at: dt.datetime
    by: str

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ApprovalRequest(BaseModel):
    status: Approval
    reason: str = Field(default="", max_length=2000)


class AliasRequest(BaseModel):
    version: int = Field(ge=1, le=999_999_999_999_999)  # exact as a JSON (float) bound too
