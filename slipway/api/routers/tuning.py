"""/api/v1/tuning-jobs: create, list, show, stop, resume."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import Paging, TuningName, authorize_secrets, paging, permission, platform
from slipway.schemas import Page
from slipway.schemas.tuning import CreateTuningRequest, TuningJobView
from slipway.services import Platform

router = APIRouter(prefix="/api/v1/tuning-jobs", tags=["tuning"])


@router.post("/{name}", response_model=TuningJobView, status_code=201,
             dependencies=[Depends(permission("tuning:Create", "tuning/{name}"))])
async def create(name: TuningName, body: CreateTuningRequest, request: Request,
                 p: Platform = Depends(platform)) -> TuningJobView:
    await run_in_threadpool(authorize_secrets, request, body.job.secrets)
    user = getattr(request.state, "user", "") or ""
    return await run_in_threadpool(p.tuning.create, name, body, user)


@router.get("", response_model=Page[TuningJobView], dependencies=[Depends(permission("tuning:List"))])
async def list_tuning(status: str | None = Query(None), pg: Paging = Depends(paging),
                      p: Platform = Depends(platform)) -> Page[TuningJobView]:
    return await run_in_threadpool(p.tuning.list, status, pg.limit, pg.offset)


@router.get("/{name}", response_model=TuningJobView, dependencies=[Depends(permission("tuning:Get", "tuning/{name}"))])
async def show(name: TuningName, p: Platform = Depends(platform)) -> TuningJobView:
    return await run_in_threadpool(p.tuning.get, name)


@router.post("/{name}/stop", response_model=TuningJobView,
             dependencies=[Depends(permission("tuning:Stop", "tuning/{name}"))])
async def stop(name: TuningName, p: Platform = Depends(platform)) -> TuningJobView:
    return await run_in_threadpool(p.tuning.stop, name)


@router.post("/{name}/resume", response_model=TuningJobView,
             dependencies=[Depends(permission("tuning:Resume", "tuning/{name}"))])
async def resume(name: TuningName, p: Platform = Depends(platform)) -> TuningJobView:
    return await run_in_threadpool(p.tuning.resume, name)
