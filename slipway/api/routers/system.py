"""Health, status and metrics of the platform."""

from __future__ import annotations

import datetime as dt
import time

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import permission, platform
from slipway.schemas import ServerStatus
from slipway.services import Platform

router = APIRouter(tags=["system"])


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/api/v1/status", response_model=ServerStatus, dependencies=[Depends(permission("system:GetStatus"))])
async def status(p: Platform = Depends(platform)) -> ServerStatus:
    counts = await run_in_threadpool(p.counts)
    controllers = getattr(p, "controller_names", [])
    leading = getattr(p, "controllers_leading", lambda: list(controllers))()
    return ServerStatus(
        url=p.settings.url,
        started_at=dt.datetime.fromtimestamp(p.started_at, dt.UTC).isoformat(),
        counts=counts,
        controllers=list(controllers),
        leading=list(leading),
        **p.describe(),  # type: ignore[arg-type]
    )


@router.get("/metrics", response_class=Response, dependencies=[Depends(permission("system:GetMetrics"))],
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition."}})
async def prometheus_metrics(p: Platform = Depends(platform)) -> Response:
    """The whole platform in Prometheus text format: invocations, latency histograms, jobs, tuning, replicas."""
    from slipway.monitoring.exposition import CONTENT_TYPE, PlatformCollector, exposition

    collector = PlatformCollector(p.invocation_metrics, p.capture_buffer, p.metrics.gauges, lambda: time.time() - p.started_at)
    return Response(await run_in_threadpool(exposition, collector), media_type=CONTENT_TYPE)
