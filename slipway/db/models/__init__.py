"""Every table, one module per noun; importing this package registers them all."""

from __future__ import annotations

from slipway.db.models.async_invocations import AsyncInvocation
from slipway.db.models.auth import ApiKey, AuditCount, AuditEvent, Role, Secret, User
from slipway.db.models.datasets import Dataset, DatasetVersion
from slipway.db.models.endpoints import Deployment, Endpoint, Replica
from slipway.db.models.events import Event
from slipway.db.models.lineage import Reference
from slipway.db.models.metrics import EndpointCapture, EndpointMetric
from slipway.db.models.monitors import Alarm, AlarmEvent, AlarmNotification, ModelBaseline, Monitor, MonitorRun
from slipway.db.models.objects import S3Bucket, S3Object, S3Upload, S3UploadPart
from slipway.db.models.pipelines import Pipeline, PipelineRun, PipelineSchedule, PipelineStep, PipelineTrigger
from slipway.db.models.registry import ModelAlias, ModelEvent, ModelGroup, ModelVersion
from slipway.db.models.sagemaker import SageMakerResource
from slipway.db.models.scaling import ScalingEvent
from slipway.db.models.training import Job, JobMetric
from slipway.db.models.transforms import TransformJob
from slipway.db.models.tuning import TuningJob

__all__ = [
    "Alarm",
    "AlarmEvent",
    "AlarmNotification",
    "ApiKey",
    "AsyncInvocation",
    "AuditCount",
    "AuditEvent",
    "Dataset",
    "DatasetVersion",
    "Deployment",
    "Endpoint",
    "EndpointCapture",
    "EndpointMetric",
    "Event",
    "Job",
    "JobMetric",
    "ModelAlias",
    "ModelBaseline",
    "ModelEvent",
    "ModelGroup",
    "ModelVersion",
    "Monitor",
    "MonitorRun",
    "Pipeline",
    "PipelineRun",
    "PipelineSchedule",
    "PipelineStep",
    "PipelineTrigger",
    "Reference",
    "Replica",
    "Role",
    "S3Bucket",
    "S3Object",
    "S3Upload",
    "S3UploadPart",
    "SageMakerResource",
    "ScalingEvent",
    "Secret",
    "TransformJob",
    "TuningJob",
    "User",
]
