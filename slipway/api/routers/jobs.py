"""/api/v1/jobs: create (after uploading a source folder for scripts), list, show, stop, logs, metrics, model."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import Name, Paging, authorize_secrets, paging, permission, platform
from slipway.api.errors import binary_response
from slipway.schemas import CreateJobRequest, JobMetrics, JobView, Page, SourceUpload
from slipway.services import Platform
from slipway.services.training import JOB_STATUSES

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("", response_model=Page[JobView], dependencies=[Depends(permission("jobs:List"))])
async def list_jobs(
    status: str | None = Query(None, description="Only jobs in this status (Pending, InProgress, Completed…).",
                               json_schema_extra={"enum": list(JOB_STATUSES)}),
    pg: Paging = Depends(paging), p: Platform = Depends(platform),
) -> Page[JobView]:
    return await run_in_threadpool(p.training.list, status, pg.limit, pg.offset)


@router.put(
    "/{name}/source", response_model=SourceUpload, dependencies=[Depends(permission("jobs:Create", "job/{name}"))],
    openapi_extra={"requestBody": {"content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}},
                                   "required": True}},
)
async def upload_source(name: Name, request: Request, p: Platform = Depends(platform)) -> SourceUpload:
    """Upload the source folder (a tar) of a script job before creating it; stored by its sha256."""
    fd, tmp_name = tempfile.mkstemp(prefix="source-", dir=p.tmp_dir)
    tmp = Path(tmp_name)
    digest, size = hashlib.sha256(), 0
    try:
        with open(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                digest.update(chunk)
                out.write(chunk)
        sha = await run_in_threadpool(p.training.put_source, tmp, size, digest.hexdigest())
    finally:
        tmp.unlink(missing_ok=True)
    return SourceUpload(sha256=sha, size=size)


@router.post("/{name}", response_model=JobView, status_code=201,
             dependencies=[Depends(permission("jobs:Create", "job/{name}"))])
async def create(name: Name, spec: CreateJobRequest, request: Request, p: Platform = Depends(platform)) -> JobView:
    await run_in_threadpool(authorize_secrets, request, spec.secrets)
    user = getattr(request.state, "user", "") or ""
    return await run_in_threadpool(p.training.create, name, spec, str(user))


@router.get("/{name}", response_model=JobView, dependencies=[Depends(permission("jobs:Get", "job/{name}"))])
async def show(name: Name, p: Platform = Depends(platform)) -> JobView:
    return await run_in_threadpool(p.training.get, name)


@router.post("/{name}/stop", response_model=JobView, dependencies=[Depends(permission("jobs:Stop", "job/{name}"))])
async def stop(name: Name, p: Platform = Depends(platform)) -> JobView:
    return await run_in_threadpool(p.training.stop, name)


@router.get("/{name}/logs", response_class=Response,
            responses={200: {"description": "Log bytes.", "content": {"text/plain": {"schema": {"type": "string"}}}}},
            dependencies=[Depends(permission("jobs:Get", "job/{name}"))])
async def logs(name: Name, offset: int = Query(0, ge=0), p: Platform = Depends(platform)) -> Response:
    """Log bytes from ``offset``; X-Slipway-Next-Offset says where to continue, X-Slipway-Job-Status when to stop."""
    data, nxt, status = await run_in_threadpool(p.training.read_logs, name, offset)
    return Response(data, media_type="text/plain; charset=utf-8",
                    headers={"X-Slipway-Next-Offset": str(nxt), "X-Slipway-Job-Status": status})


@router.get("/{name}/metrics", response_model=JobMetrics, dependencies=[Depends(permission("jobs:Get", "job/{name}"))])
async def metrics(name: Name, p: Platform = Depends(platform)) -> JobMetrics:
    return await run_in_threadpool(p.training.metrics, name)


@router.get("/{name}/model", response_class=StreamingResponse,
            responses=binary_response("application/gzip", "The model artifact, model.tar.gz."),
            dependencies=[Depends(permission("jobs:Download", "job/{name}"))])
async def model(name: Name, p: Platform = Depends(platform)) -> StreamingResponse:
    """The model artifact as model.tar.gz."""
    filename, chunks, size = await run_in_threadpool(p.training.open_artifact, name, "model")
    return StreamingResponse(chunks, media_type="application/gzip", headers={
        "Content-Length": str(size), "Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/{name}/output", response_class=StreamingResponse,
            responses=binary_response("application/gzip", "What the job wrote, output.tar.gz."),
            dependencies=[Depends(permission("jobs:Download", "job/{name}"))])
async def output(name: Name, p: Platform = Depends(platform)) -> StreamingResponse:
    """What the job wrote to SM_OUTPUT_DATA_DIR, as output.tar.gz."""
    filename, chunks, size = await run_in_threadpool(p.training.open_artifact, name, "output")
    return StreamingResponse(chunks, media_type="application/gzip", headers={
        "Content-Length": str(size), "Content-Disposition": f'attachment; filename="{filename}"'})
