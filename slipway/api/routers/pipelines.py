"""/api/v1/pipelines: create (or update), list, show, delete; start runs, list and show them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import Name, permission, platform
from slipway.schemas.pipelines import PipelineRunView, PipelineSpec, PipelineView, StartRunRequest
from slipway.services import Platform

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])


def _user(request: Request) -> str:
    return str(getattr(request.state, "user", "") or "")


@router.get("", response_model=list[PipelineView], dependencies=[Depends(permission("pipelines:List"))])
async def list_pipelines(p: Platform = Depends(platform)) -> list[PipelineView]:
    return await run_in_threadpool(p.pipelines.list)


@router.post("/{name}", response_model=PipelineView, status_code=201,
             dependencies=[Depends(permission("pipelines:Create", "pipeline/{name}"))])
async def create(name: Name, spec: PipelineSpec, request: Request, p: Platform = Depends(platform)) -> PipelineView:
    """Create the pipeline, or update its definition (a new version). Refused with 400 when the graph has a
    cycle, a reference names a step, output or parameter that does not exist, or types do not fit."""
    return await run_in_threadpool(p.pipelines.create, name, spec, _user(request))


@router.get("/{name}", response_model=PipelineView,
            dependencies=[Depends(permission("pipelines:Get", "pipeline/{name}"))])
async def show(name: Name, p: Platform = Depends(platform)) -> PipelineView:
    return await run_in_threadpool(p.pipelines.get, name)


@router.delete("/{name}", response_model=PipelineView,
               dependencies=[Depends(permission("pipelines:Delete", "pipeline/{name}"))])
async def delete(name: Name, p: Platform = Depends(platform)) -> PipelineView:
    return await run_in_threadpool(p.pipelines.delete, name)


@router.post("/{name}/runs", response_model=PipelineRunView, status_code=201,
             dependencies=[Depends(permission("pipelines:Run", "pipeline/{name}"))])
async def start_run(name: Name, body: StartRunRequest, request: Request,
                    p: Platform = Depends(platform)) -> PipelineRunView:
    user = _user(request)
    return await run_in_threadpool(p.pipelines.start_run, name, body.parameters, f"user:{user}", user)


@router.get("/{name}/runs", response_model=list[PipelineRunView],
            dependencies=[Depends(permission("pipelines:Get", "pipeline/{name}"))])
async def list_runs(name: Name, p: Platform = Depends(platform)) -> list[PipelineRunView]:
    return await run_in_threadpool(p.pipelines.list_runs, name)


@router.get("/{name}/runs/{number}", response_model=PipelineRunView,
            dependencies=[Depends(permission("pipelines:Get", "pipeline/{name}"))])
async def show_run(name: Name, number: int = Path(ge=1, le=10**9), p: Platform = Depends(platform)
                   ) -> PipelineRunView:
    return await run_in_threadpool(p.pipelines.get_run, name, number)
