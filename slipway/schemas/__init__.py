"""Pydantic models that form the API contract, shared by the server and the SDK."""

from __future__ import annotations

from slipway.schemas.common import Page, SandboxStatus, ServerStatus
from slipway.schemas.datasets import (
    ColumnSchema,
    DatasetSummary,
    DatasetVersionView,
    PushResult,
)
from slipway.schemas.endpoints import (
    DeploymentView,
    EndpointRequest,
    EndpointView,
    ReplicaView,
    ServingOptions,
    VariantSpec,
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
from slipway.schemas.models import (
    AliasRequest,
    ApprovalRequest,
    ModelEventView,
    ModelSummary,
    ModelVersionView,
)

__all__ = [
    "AlgorithmView",
    "AliasRequest",
    "ApprovalRequest",
    "ColumnSchema",
    "CreateJobRequest",
    "DatasetSummary",
    "DatasetVersionView",
    "DeploymentView",
    "EndpointRequest",
    "EndpointView",
    "HyperparameterView",
    "JobMetrics",
    "JobView",
    "MetricDefinition",
    "MetricPoint",
    "ModelEventView",
    "ModelSummary",
    "ModelVersionView",
    "Page",
    "PushResult",
    "ReplicaView",
    "SandboxStatus",
    "ServerStatus",
    "SourceUpload",
    "StatusTransition",
    "ServingOptions",
    "VariantSpec",
]
