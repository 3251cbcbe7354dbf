"""Pydantic models that form the API contract, shared by the server and the SDK."""

from __future__ import annotations

from slipway.schemas.common import Page, ServerStatus
from slipway.schemas.datasets import (
    ColumnSchema,
    DatasetSummary,
    DatasetVersionView,
    PushResult,
)
from slipway.schemas.jobs import (
    AlgorithmView,
    CreateJobRequest,
    HyperparameterView,
    JobMetrics,
    JobView,
    MetricDefinition,
    MetricPoint,
    SourceUpload,
    StatusTransition,
)

__all__ = [
    "AlgorithmView",
    "ColumnSchema",
    "CreateJobRequest",
    "DatasetSummary",
    "DatasetVersionView",
    "HyperparameterView",
    "JobMetrics",
    "JobView",
    "MetricDefinition",
    "MetricPoint",
    "Page",
    "PushResult",
    "ServerStatus",
    "SourceUpload",
    "StatusTransition",
]
