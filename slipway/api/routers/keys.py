"""/api/v1/keys: create (the key is returned once), list, revoke; rotate the master key; whoami."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import Paging, paging, permission, platform, principal
from slipway.schemas.auth import KeyCreate, KeyCreated, KeyView, Page, RotateResult, WhoAmI
from slipway.services import Platform

router = APIRouter(tags=["keys"])


@router.get("/api/v1/whoami", response_model=WhoAmI, dependencies=[Depends(permission("auth:WhoAmI"))])
async def whoami(request: Request, p: Platform = Depends(platform)) -> WhoAmI:
    return p.auth.whoami(principal(request))


@router.get("/api/v1/keys", response_model=Page[KeyView], dependencies=[Depends(permission("keys:List", "key/*"))])
async def list_keys(user: str | None = Query(None, description="Only this user's keys."),
                    pg: Paging = Depends(paging), p: Platform = Depends(platform)) -> Page[KeyView]:
    return await run_in_threadpool(p.auth.list_keys, user, pg.limit, pg.offset)


@router.post("/api/v1/keys", response_model=KeyCreated, status_code=201,
             dependencies=[Depends(permission("keys:Create", "key/*"))])
async def create_key(body: KeyCreate, request: Request, p: Platform = Depends(platform)) -> KeyCreated:
    caller = principal(request)
    return await run_in_threadpool(lambda: p.auth.create_key(
        body.user or caller.user, expires=body.expires, policy=body.policy, description=body.description,
        caller=caller, aws=body.aws))


@router.post("/api/v1/keys/rotate-master", response_model=RotateResult,
             dependencies=[Depends(permission("keys:RotateMaster"))])
async def rotate_master(p: Platform = Depends(platform)) -> RotateResult:
    return await run_in_threadpool(p.rotate_master_key)


@router.delete("/api/v1/keys/{key_id}", response_model=KeyView,
               dependencies=[Depends(permission("keys:Delete", "key/{key_id}"))])
async def revoke_key(request: Request,
                     key_id: str = Path(description="The key's id: 12 hex digits (slipway_<id>_… in the key), or an "
                                                    "AWS access key id (AKIA and 16 characters).",
                                        json_schema_extra={"pattern": "^([0-9a-f]{12}|AKIA[A-Z2-7]{16})$"}),
                     p: Platform = Depends(platform)) -> KeyView:
    return await run_in_threadpool(p.auth.revoke_key, key_id, principal(request))
