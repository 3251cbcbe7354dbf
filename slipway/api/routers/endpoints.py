"""/api/v1/endpoints (deploy, list, show, metrics, capture, update, rollback, delete) and /endpoints/{name}/invocations."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from slipway.api.deps import SINCE, Name, Paging, paging, permission, platform
from slipway.api.errors import error_responses
from slipway.api.invoke import payload_too_large
from slipway.schemas import (
    CaptureConfig,
    CaptureRecords,
    CaptureRequest,
    EndpointMetrics,
    EndpointRequest,
    EndpointUpdate,
    EndpointView,
    Page,
)
from slipway.services import Platform
from slipway.serving.gateway import MODEL_HEADER, TARGET_HEADER, VARIANT_HEADER

router = APIRouter(prefix="/api/v1/endpoints", tags=["endpoints"])
invocations = APIRouter(tags=["invocations"])


def _user(request: Request) -> str:
    return getattr(request.state, "user", "") or ""


@router.get("", response_model=Page[EndpointView], dependencies=[Depends(permission("endpoints:List"))])
async def list_endpoints(pg: Paging = Depends(paging), p: Platform = Depends(platform)) -> Page[EndpointView]:
    return await run_in_threadpool(p.endpoints.list, pg.limit, pg.offset)


@router.post("/{name}", response_model=EndpointView, status_code=201,
             dependencies=[Depends(permission("endpoints:Create", "endpoint/{name}"))])
async def create(name: Name, body: EndpointRequest, request: Request, p: Platform = Depends(platform)) -> EndpointView:
    """Deploy: record the desired variants (and autoscaling); the endpoint controller starts replicas (Creating)."""
    return await run_in_threadpool(p.endpoints.create, name, body.variants, _user(request), body.scaling)


@router.get("/{name}", response_model=EndpointView, dependencies=[Depends(permission("endpoints:Get", "endpoint/{name}"))])
async def show(name: Name, p: Platform = Depends(platform)) -> EndpointView:
    return await run_in_threadpool(p.endpoints.get, name)


@router.get("/{name}/metrics", response_model=EndpointMetrics,
            dependencies=[Depends(permission("endpoints:Get", "endpoint/{name}"))])
async def metrics(name: Name, since: str = Query("1h", description="A duration back from now (15m, 1h, 2d) or an ISO time.",
                                                    json_schema_extra=SINCE),
                  until: str | None = Query(None, description="End of the range (default now); same forms as since.",
                                         json_schema_extra=SINCE),
                  p: Platform = Depends(platform)) -> EndpointMetrics:
    """Per minute and variant: requests, req/s, p50/p95/p99 latency, 2xx/4xx/5xx."""
    return await run_in_threadpool(p.metrics.query, name, since, until)


@router.put("/{name}/capture", response_model=CaptureConfig,
            dependencies=[Depends(permission("endpoints:Update", "endpoint/{name}"))])
async def set_capture(name: Name, body: CaptureRequest, p: Platform = Depends(platform)) -> CaptureConfig:
    """Capture this share of requests (0-100 %; default 100 %, up to capture_max_per_second)."""
    return await run_in_threadpool(p.capture.set_percent, name, body.percent)


@router.get("/{name}/capture", response_model=CaptureRecords,
            dependencies=[Depends(permission("endpoints:GetCapture", "endpoint/{name}"))])
async def capture(name: Name, since: str = Query("1h", description="A duration back from now (15m, 1h) or an ISO time.",
                                                    json_schema_extra=SINCE),
                  until: str | None = Query(None, description="End of the range (default now).", json_schema_extra=SINCE),
                  limit: int = Query(100, ge=1, le=10000, description="The newest records, at most this many (1-10000)."),
                  p: Platform = Depends(platform)) -> CaptureRecords:
    """Captured requests and answers in SageMaker's data-capture format, oldest first."""
    return await run_in_threadpool(p.capture.read, name, since, until, limit)


@router.patch("/{name}", response_model=EndpointView,
              dependencies=[Depends(permission("endpoints:Update", "endpoint/{name}"))])
async def update(name: Name, body: EndpointUpdate, request: Request, p: Platform = Depends(platform)) -> EndpointView:
    """A rolling, zero-downtime update to new variants and/or autoscaling (automatic rollback if they fail to start)."""
    return await run_in_threadpool(p.endpoints.update, name, body.variants, _user(request), "update", body.scaling,
                                   body.fixed)


@router.post("/{name}/rollback", response_model=EndpointView,
             dependencies=[Depends(permission("endpoints:Rollback", "endpoint/{name}"))])
async def rollback(name: Name, request: Request, p: Platform = Depends(platform)) -> EndpointView:
    return await run_in_threadpool(p.endpoints.rollback, name, _user(request))


@router.delete("/{name}", response_model=EndpointView,
               dependencies=[Depends(permission("endpoints:Delete", "endpoint/{name}"))])
async def delete(name: Name, request: Request, p: Platform = Depends(platform)) -> EndpointView:
    return await run_in_threadpool(p.endpoints.delete, name, _user(request))


@invocations.post("/endpoints/{name}/invocations",
                  dependencies=[Depends(permission("endpoints:Invoke", "endpoint/{name}"))],
                  responses=error_responses(406, 413, 415, 503, 504),
                  openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}},
                                                             "text/csv": {"schema": {"type": "string"}},
                                                             "application/x-npy": {"schema": {"type": "string",
                                                                                              "format": "binary"}}},
                                                 "required": True}})
async def invoke(name: Name, request: Request) -> Response:
    """Predict: JSON, CSV or NumPy in; JSON or CSV out. The X-Slipway-Variant header names who answered."""
    p: Platform = request.app.state.platform  # not Depends(platform): a sync dependency costs a thread hop
    limit = p.settings.max_payload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        p.serving.gateway.count_refused(name, 413)
        raise payload_too_large(int(declared), limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                p.serving.gateway.count_refused(name, 413)
                raise payload_too_large(len(body), limit)
    except ClientDisconnect:  # the caller left (a load generator stopping): nobody to answer, nothing to log
        return Response(status_code=499)
    result = await p.serving.gateway.invoke(
        name, bytes(body), request.headers.get("content-type", "application/json"),
        request.headers.get("accept", ""), request.headers.get(TARGET_HEADER),
        getattr(request.state, "request_id", None),
    )
    if result is None:
        await run_in_threadpool(p.endpoints.explain_unrouted, name)
        raise AssertionError("explain_unrouted always raises")
    return Response(result.body, status_code=result.status, media_type=None,
                    headers={"content-type": result.content_type, VARIANT_HEADER: result.variant,
                             MODEL_HEADER: result.model})
