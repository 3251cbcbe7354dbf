"""/api/v1/models/{name}/versions/{version}/baseline, /api/v1/monitors and /api/v1/alarms."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import Name, Version, permission, platform
from slipway.schemas.monitors import (
    AlarmRequest,
    AlarmView,
    BaselineRequest,
    BaselineView,
    MonitorRequest,
    MonitorRunView,
    MonitorView,
)
from slipway.services import Platform

baselines = APIRouter(prefix="/api/v1/models", tags=["models"])
router = APIRouter(prefix="/api/v1/monitors", tags=["monitors"])
alarms = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])


def _user(request: Request) -> str:
    return getattr(request.state, "user", "") or ""


@baselines.post("/{name}/versions/{version}/baseline", response_model=BaselineView,
                dependencies=[Depends(permission("models:Register", "model/{name}"))])
async def compute_baseline(name: Name, version: Version, body: BaselineRequest, p: Platform = Depends(platform)
                           ) -> BaselineView:
    """(Re)compute the training baseline (statistics.json, constraints.json) from a dataset version."""
    return await run_in_threadpool(p.baselines.compute, f"{name}:{version}", body.dataset)


@baselines.get("/{name}/versions/{version}/baseline", response_model=BaselineView,
               dependencies=[Depends(permission("models:Get", "model/{name}"))])
async def show_baseline(name: Name, version: Version, p: Platform = Depends(platform)) -> BaselineView:
    """The baseline with its statistics.json and constraints.json (SageMaker Model Monitor's shapes)."""
    return await run_in_threadpool(p.baselines.get, f"{name}:{version}")


@router.get("", response_model=list[MonitorView], dependencies=[Depends(permission("monitors:List"))])
async def list_monitors(p: Platform = Depends(platform)) -> list[MonitorView]:
    return await run_in_threadpool(p.monitors.list)


@router.post("/{name}", response_model=MonitorView, status_code=201,
             dependencies=[Depends(permission("monitors:Create", "monitor/{name}"))])
async def create_monitor(name: Name, body: MonitorRequest, request: Request, p: Platform = Depends(platform)
                         ) -> MonitorView:
    """A drift monitor of an endpoint against a model version's baseline (400 when it has none)."""
    return await run_in_threadpool(p.monitors.create, name, body.endpoint, body.baseline, body.every, body.window,
                                   body.thresholds, _user(request))


@router.get("/{name}", response_model=MonitorView, dependencies=[Depends(permission("monitors:Get", "monitor/{name}"))])
async def show_monitor(name: Name, p: Platform = Depends(platform)) -> MonitorView:
    """The monitor and its newest runs (per feature: statistics, threshold, verdict)."""
    return await run_in_threadpool(p.monitors.get, name)


@router.post("/{name}/run", response_model=MonitorRunView,
             dependencies=[Depends(permission("monitors:Run", "monitor/{name}"))])
async def run_monitor(name: Name, p: Platform = Depends(platform)) -> MonitorRunView:
    """Run now (besides the schedule)."""
    return await run_in_threadpool(p.monitors.run, name)


@router.delete("/{name}", response_model=MonitorView,
               dependencies=[Depends(permission("monitors:Delete", "monitor/{name}"))])
async def delete_monitor(name: Name, p: Platform = Depends(platform)) -> MonitorView:
    return await run_in_threadpool(p.monitors.delete, name)


@alarms.get("", response_model=list[AlarmView], dependencies=[Depends(permission("alarms:List"))])
async def list_alarms(p: Platform = Depends(platform)) -> list[AlarmView]:
    return await run_in_threadpool(p.alarms.list)


@alarms.post("/{name}", response_model=AlarmView, status_code=201,
             dependencies=[Depends(permission("alarms:Create", "alarm/{name}"))])
async def create_alarm(name: Name, body: AlarmRequest, request: Request, p: Platform = Depends(platform)) -> AlarmView:
    """An alarm on a metric (CloudWatch semantics: statistic per period, M of N, missing data treatment)."""
    return await run_in_threadpool(
        lambda: p.alarms.create(name, body.metric, body.threshold, body.comparison, body.datapoints,
                                body.evaluation_periods, body.period, body.statistic, body.missing, body.actions,
                                _user(request)))


@alarms.get("/{name}", response_model=AlarmView, dependencies=[Depends(permission("alarms:Get", "alarm/{name}"))])
async def show_alarm(name: Name, p: Platform = Depends(platform)) -> AlarmView:
    """State, reason and the history of state changes with what each action did."""
    return await run_in_threadpool(p.alarms.get, name)


@alarms.delete("/{name}", response_model=AlarmView, dependencies=[Depends(permission("alarms:Delete", "alarm/{name}"))])
async def delete_alarm(name: Name, p: Platform = Depends(platform)) -> AlarmView:
    return await run_in_threadpool(p.alarms.delete, name)
