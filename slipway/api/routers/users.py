"""/api/v1/users: create, list, show, update (role, disable/enable)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import Name, Paging, paging, permission, platform, principal
from slipway.schemas.auth import Page, UserCreate, UserUpdate, UserView
from slipway.services import Platform

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("", response_model=Page[UserView], dependencies=[Depends(permission("users:List"))])
async def list_users(pg: Paging = Depends(paging), p: Platform = Depends(platform)) -> Page[UserView]:
    return await run_in_threadpool(p.auth.list_users, pg.limit, pg.offset)


@router.post("", response_model=UserView, status_code=201, dependencies=[Depends(permission("users:Create", "user/*"))])
async def create_user(body: UserCreate, request: Request, p: Platform = Depends(platform)) -> UserView:
    return await run_in_threadpool(p.auth.create_user, body.name, body.role, principal(request))


@router.get("/{name}", response_model=UserView, dependencies=[Depends(permission("users:Get", "user/{name}"))])
async def get_user(name: Name, p: Platform = Depends(platform)) -> UserView:
    return await run_in_threadpool(p.auth.get_user, name)


@router.patch("/{name}", response_model=UserView, dependencies=[Depends(permission("users:Update", "user/{name}"))])
async def update_user(name: Name, body: UserUpdate, request: Request, p: Platform = Depends(platform)) -> UserView:
    return await run_in_threadpool(
        lambda: p.auth.update_user(name, role=body.role, disabled=body.disabled, caller=principal(request)))
