"""Background reconcile loops: each compares desired state in the database with the world and acts."""

from __future__ import annotations

from slipway.controllers.async_invocations import AsyncInvocationController
from slipway.controllers.autoscale import AutoscaleController
from slipway.controllers.base import Controller, ControllerManager
from slipway.controllers.endpoints import EndpointController
from slipway.controllers.housekeeping import AuditCountFlusher, CaptureWriter, MetricsFlusher, TmpCleaner
from slipway.controllers.jobs import JobsController
from slipway.controllers.monitors import AlarmEvaluator, AlarmNotifier, BaselineBuilder, MonitorScheduler
from slipway.controllers.pipelines import PipelinesController
from slipway.controllers.routes import RouteMirror
from slipway.controllers.transforms import TransformController
from slipway.controllers.tuning import TuningController

__all__ = ["AlarmEvaluator", "AlarmNotifier", "AsyncInvocationController", "AuditCountFlusher", "AutoscaleController", "BaselineBuilder",
           "CaptureWriter", "Controller", "ControllerManager", "EndpointController", "JobsController", "MetricsFlusher",
           "MonitorScheduler", "PipelinesController", "RouteMirror", "TmpCleaner", "TransformController", "TuningController",
           "default_controllers"]


def default_controllers(platform: object) -> list[Controller]:
    """Every controller the server runs; later features register theirs here."""
    endpoints = EndpointController(platform)  # type: ignore[arg-type]
    return [TmpCleaner(platform), AuditCountFlusher(platform), JobsController(platform),  # type: ignore[arg-type]
            endpoints, RouteMirror(platform, endpoints), TuningController(platform),  # type: ignore[arg-type]
            MetricsFlusher(platform), CaptureWriter(platform), AutoscaleController(platform, endpoints),  # type: ignore[arg-type]
            BaselineBuilder(platform), MonitorScheduler(platform), AlarmEvaluator(platform), AlarmNotifier(platform),  # type: ignore[arg-type]
            AsyncInvocationController(platform), TransformController(platform),  # type: ignore[arg-type]
            PipelinesController(platform)]  # type: ignore[arg-type]
