"""Dataset shapes on the wire."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ColumnSchema(BaseModel):
    name: str
    dtype: str
    nulls: int = 0


class DatasetVersionView(BaseModel):
    name: str
    version: int
    ref: str
    format: str
    kind: str
    filename: str
    size: int
    sha256: str
    rows: int | None
    columns: int
    label: str | None
    schema_: list[ColumnSchema] = Field(default_factory=list, alias="schema")
    info: dict[str, Any] = Field(default_factory=dict)
    created_at: dt.datetime
    created_by: str

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class DatasetSummary(BaseModel):
    name: str
    description: str
    versions: int
    latest: DatasetVersionView | None
    created_at: dt.datetime
    created_by: str


class PushResult(BaseModel):
    created: bool
    version: DatasetVersionView
