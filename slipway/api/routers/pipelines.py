"""/api/v1/pipelines: create (or update), list, show, delete; start runs, list and show them; schedule, triggers."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import Name, permission, platform
from slipway.schemas.pipelines import (
    PipelineRunView,
    PipelineSpec,
    PipelineView,
    ScheduleRequest,
    StartRunRequest,
    TriggerRequest,
)
from slipway.services import Platform

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])


def _user(request: Request) -> str:
    return str(getattr(request.state, "user", "") or "")


def _key(request: Request) -> str | None:
    """The caller's API key: runs it sets up act with its policy."""
    return str(getattr(request.state, "key_id", "") or "") or None


@router.get("", response_model=list[PipelineView], dependencies=[Depends(permission("pipelines:List"))])
async def list_pipelines(p: Platform = Depends(platform)) -> list[PipelineView]:
    return await run_in_threadpool(p.pipelines.list)


@router.post("/{name}", response_model=PipelineView, status_code=201,
             dependencies=[Depends(permission("pipelines:Create", "pipeline/{name}"))])
async def create(name: Name, spec: PipelineSpec, request: Request, p: Platform = Depends(platform)) -> PipelineView:
    """Create the pipeline, or update its definition (a new version). Refused with 400 when the graph has a
    cycle, a reference names a step, output or parameter that does not exist, or types do not fit."""
    return await run_in_threadpool(p.pipelines.create, name, spec, _user(request), _key(request))


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
    return await run_in_threadpool(p.pipelines.start_run, name, body.parameters, f"user:{user}", user, _key(request))


@router.get("/{name}/runs", response_model=list[PipelineRunView],
            dependencies=[Depends(permission("pipelines:Get", "pipeline/{name}"))])
async def list_runs(name: Name, p: Platform = Depends(platform)) -> list[PipelineRunView]:
    return await run_in_threadpool(p.pipelines.list_runs, name)


@router.get("/{name}/runs/{number}", response_model=PipelineRunView,
            dependencies=[Depends(permission("pipelines:Get", "pipeline/{name}"))])
async def show_run(name: Name, number: int = Path(ge=1, le=10**9), p: Platform = Depends(platform)
                   ) -> PipelineRunView:
    return await run_in_threadpool(p.pipelines.get_run, name, number)


@router.post("/{name}/runs/{number}/stop", response_model=PipelineRunView,
             dependencies=[Depends(permission("pipelines:Stop", "pipeline/{name}"))])
async def stop_run(name: Name, request: Request, number: int = Path(ge=1, le=10**9),
                   p: Platform = Depends(platform)) -> PipelineRunView:
    """Stop a pending or running run: its running jobs are stopped, a baking canary rolled back, the steps not
    yet run skipped; the run ends Stopped. 409 when it already ended."""
    return await run_in_threadpool(p.pipelines.stop_run, name, number, _user(request))


@router.put("/{name}/schedule", response_model=PipelineView,
            dependencies=[Depends(permission("pipelines:Update", "pipeline/{name}"))])
async def set_schedule(name: Name, body: ScheduleRequest, request: Request,
                       p: Platform = Depends(platform)) -> PipelineView:
    """Run on a cron schedule in an explicit time zone (after downtime: one run, not one per missed time)."""
    return await run_in_threadpool(p.pipelines.set_schedule, name, body.cron, body.timezone, body.parameters,
                                   _user(request))


@router.delete("/{name}/schedule", response_model=PipelineView,
               dependencies=[Depends(permission("pipelines:Update", "pipeline/{name}"))])
async def remove_schedule(name: Name, p: Platform = Depends(platform)) -> PipelineView:
    return await run_in_threadpool(p.pipelines.remove_schedule, name)


@router.post("/{name}/triggers", response_model=PipelineView, status_code=201,
             dependencies=[Depends(permission("pipelines:Update", "pipeline/{name}"))])
async def add_trigger(name: Name, body: TriggerRequest, request: Request,
                      p: Platform = Depends(platform)) -> PipelineView:
    """Start a run on each new event of a kind about a subject (dataset:reviews, alarm:NAME, model:NAME…)."""
    return await run_in_threadpool(p.pipelines.add_trigger, name, body.on, body.parameters, _user(request),
                                   _key(request))


@router.delete("/{name}/triggers", response_model=PipelineView,
               dependencies=[Depends(permission("pipelines:Update", "pipeline/{name}"))])
async def remove_trigger(name: Name, on: str = Query(description="The trigger's KIND:SUBJECT, e.g. dataset:reviews.",
                                                     json_schema_extra={"pattern": "^[a-z-]+:.+$"}),
                         p: Platform = Depends(platform)) -> PipelineView:
    return await run_in_threadpool(p.pipelines.remove_trigger, name, on)
