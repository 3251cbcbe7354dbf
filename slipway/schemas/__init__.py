"""Pydantic models that form the API contract, shared by the server and the SDK."""

from __future__ import annotations

from slipway.schemas.common import Page, ServerStatus
from slipway.schemas.datasets import (
    ColumnSchema,
    DatasetSummary,
    DatasetVersionView,
    PushResult,
)

__all__ = ["ColumnSchema", "DatasetSummary", "DatasetVersionView", "Page", "PushResult", "ServerStatus"]
