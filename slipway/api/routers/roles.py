"""/api/v1/roles: the built-in roles and custom ones (create, show, delete)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import Name, permission, platform, principal
from slipway.schemas.auth import RoleCreate, RoleView
from slipway.services import Platform

router = APIRouter(prefix="/api/v1/roles", tags=["roles"])


@router.get("", response_model=list[RoleView], dependencies=[Depends(permission("roles:List"))])
async def list_roles(p: Platform = Depends(platform)) -> list[RoleView]:
    return await run_in_threadpool(p.auth.list_roles)


@router.post("", response_model=RoleView, status_code=201, dependencies=[Depends(permission("roles:Create", "role/*"))])
async def create_role(body: RoleCreate, request: Request, p: Platform = Depends(platform)) -> RoleView:
    user = getattr(request.state, "user", "") or ""
    return await run_in_threadpool(p.auth.create_role, body.name, body.policy, body.description, user,
                                   principal(request))


@router.get("/{name}", response_model=RoleView, dependencies=[Depends(permission("roles:Get", "role/{name}"))])
async def get_role(name: Name, p: Platform = Depends(platform)) -> RoleView:
    return await run_in_threadpool(p.auth.get_role, name)


@router.delete("/{name}", response_model=RoleView, dependencies=[Depends(permission("roles:Delete", "role/{name}"))])
async def delete_role(name: Name, p: Platform = Depends(platform)) -> RoleView:
    return await run_in_threadpool(p.auth.delete_role, name)
