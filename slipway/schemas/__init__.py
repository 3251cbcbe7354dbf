"""Pydantic models that form the API contract, shared by the server and the SDK.

Names are imported from their module on first use (``from slipway.schemas import JobView`` works as
before): building pydantic models costs start-up time, and a CLI command needs only a few of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slipway.schemas.async_invocations import AsyncInvocationView
    from slipway.schemas.capture import CaptureConfig, CaptureRecords, CaptureRequest
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
        EndpointUpdate,
        EndpointView,
        ReplicaView,
        ScalingDecisionView,
        ScalingSpec,
        ScalingView,
        ServingOptions,
        VariantScalingView,
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
    from slipway.schemas.metrics import EndpointMetrics, MinuteMetrics
    from slipway.schemas.models import (
        AliasRequest,
        ApprovalRequest,
        ModelEventView,
        ModelSummary,
        ModelVersionView,
    )
    from slipway.schemas.transforms import TransformRequest, TransformView

_MODULES = {
    "TransformRequest": "transforms",
    "TransformView": "transforms",
    "AsyncInvocationView": "async_invocations",
    "MinuteMetrics": "metrics",
    "EndpointMetrics": "metrics",
    "CaptureRequest": "capture",
    "CaptureRecords": "capture",
    "CaptureConfig": "capture",
    "AlgorithmView": "jobs",
    "AliasRequest": "models",
    "ApprovalRequest": "models",
    "ColumnSchema": "datasets",
    "CreateJobRequest": "jobs",
    "DatasetSummary": "datasets",
    "DatasetVersionView": "datasets",
    "DeploymentView": "endpoints",
    "EndpointRequest": "endpoints",
    "EndpointUpdate": "endpoints",
    "ScalingDecisionView": "endpoints",
    "ScalingSpec": "endpoints",
    "ScalingView": "endpoints",
    "VariantScalingView": "endpoints",
    "EndpointView": "endpoints",
    "HyperparameterView": "jobs",
    "JobMetrics": "jobs",
    "JobView": "jobs",
    "MetricDefinition": "jobs",
    "MetricPoint": "jobs",
    "ModelEventView": "models",
    "ModelSummary": "models",
    "ModelVersionView": "models",
    "Page": "common",
    "PushResult": "datasets",
    "ReplicaView": "endpoints",
    "SandboxStatus": "common",
    "ServerStatus": "common",
    "ServingOptions": "endpoints",
    "SourceUpload": "jobs",
    "StatusTransition": "jobs",
    "VariantSpec": "endpoints",
}

__all__ = [
    "AlgorithmView",
    "AliasRequest",
    "ApprovalRequest",
    "AsyncInvocationView",
    "CaptureConfig",
    "CaptureRecords",
    "CaptureRequest",
    "ColumnSchema",
    "CreateJobRequest",
    "DatasetSummary",
    "DatasetVersionView",
    "DeploymentView",
    "EndpointMetrics",
    "EndpointRequest",
    "EndpointUpdate",
    "EndpointView",
    "HyperparameterView",
    "JobMetrics",
    "JobView",
    "MetricDefinition",
    "MetricPoint",
    "MinuteMetrics",
    "ModelEventView",
    "ModelSummary",
    "ModelVersionView",
    "Page",
    "PushResult",
    "ReplicaView",
    "SandboxStatus",
    "ScalingDecisionView",
    "ScalingSpec",
    "ScalingView",
    "VariantScalingView",
    "ServerStatus",
    "SourceUpload",
    "StatusTransition",
    "TransformRequest",
    "TransformView",
    "ServingOptions",
    "VariantSpec",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'slipway.schemas' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"slipway.schemas.{module}"), name)
    globals()[name] = value
    return value
