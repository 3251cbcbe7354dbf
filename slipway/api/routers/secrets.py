"""/api/v1/secrets: set (create or replace), list names, delete. No route ever returns a value."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import Name, permission, platform
from slipway.schemas.auth import SecretPut, SecretView
from slipway.services import Platform

router = APIRouter(prefix="/api/v1/secrets", tags=["secrets"])


@router.get("", response_model=list[SecretView], dependencies=[Depends(permission("secrets:List"))])
async def list_secrets(p: Platform = Depends(platform)) -> list[SecretView]:
    return await run_in_threadpool(p.secrets.list)


@router.put("/{name}", response_model=SecretView, dependencies=[Depends(permission("secrets:Create", "secret/{name}"))],
            responses={201: {"model": SecretView, "description": "Created (200: replaced)."}})
async def set_secret(name: Name, body: SecretPut, request: Request, response: Response,
                     p: Platform = Depends(platform)) -> SecretView:
    user = getattr(request.state, "user", "") or ""
    view, created = await run_in_threadpool(p.secrets.set, name, body.value, user)
    response.status_code = 201 if created else 200
    return view


@router.delete("/{name}", response_model=SecretView,
               dependencies=[Depends(permission("secrets:Delete", "secret/{name}"))])
async def delete_secret(name: Name, p: Platform = Depends(platform)) -> SecretView:
    return await run_in_threadpool(p.secrets.delete, name)
