"""/api/v1/transforms: batch transform jobs (create, list, show, stop)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import Name, Paging, paging, permission, platform
from slipway.schemas import Page
from slipway.schemas.transforms import TransformRequest, TransformView
from slipway.services import Platform

router = APIRouter(prefix="/api/v1/transforms", tags=["transforms"])


@router.get("", response_model=Page[TransformView], dependencies=[Depends(permission("transforms:List"))])
async def list_transforms(pg: Paging = Depends(paging), p: Platform = Depends(platform)) -> Page[TransformView]:
    return await run_in_threadpool(p.transforms.list, pg.limit, pg.offset)


@router.post("/{name}", response_model=TransformView, status_code=201,
             dependencies=[Depends(permission("transforms:Create", "transform/{name}"))])
async def create(name: Name, body: TransformRequest, request: Request, p: Platform = Depends(platform)) -> TransformView:
    """Predict over a dataset version with temporary replicas of a model version (or an endpoint's replicas); the
    output is a new dataset version. Through an endpoint, the caller also needs ``endpoints:Invoke`` on it."""
    if body.endpoint is not None:
        authorize = getattr(p, "authorize_request", None)
        if authorize is not None:
            authorize(request, "endpoints:Invoke", f"endpoint/{body.endpoint}")
    return await run_in_threadpool(p.transforms.create, name, body, getattr(request.state, "user", "") or "")


@router.get("/{name}", response_model=TransformView,
            dependencies=[Depends(permission("transforms:Get", "transform/{name}"))])
async def show(name: Name, p: Platform = Depends(platform)) -> TransformView:
    return await run_in_threadpool(p.transforms.get, name)


@router.post("/{name}/stop", response_model=TransformView,
             dependencies=[Depends(permission("transforms:Stop", "transform/{name}"))])
async def stop(name: Name, p: Platform = Depends(platform)) -> TransformView:
    return await run_in_threadpool(p.transforms.stop, name)
