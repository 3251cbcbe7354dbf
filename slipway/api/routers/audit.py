"""/api/v1/audit: the audit trail (newest first, filtered) and the counts of counted calls."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import SINCE, Paging, paging, permission, platform
from slipway.schemas.auth import AuditCountView, AuditEventView, Page
from slipway.services import Platform

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEventView], dependencies=[Depends(permission("audit:List"))])
async def list_events(
    since: str | None = Query(None, description="A duration (1h, 30d) or an ISO time.", json_schema_extra=SINCE),
    user: str | None = Query(None),
    action: str | None = Query(None, description="An action, '*' wildcards allowed (datasets:*)."),
    outcome: str | None = Query(None, description="allowed, denied or failed."),
    pg: Paging = Depends(paging),
    p: Platform = Depends(platform),
) -> Page[AuditEventView]:
    return await run_in_threadpool(p.audit.list, since, user, action, outcome, pg.limit, pg.offset)


@router.get("/counts", response_model=list[AuditCountView], dependencies=[Depends(permission("audit:List"))])
async def list_counts(
    since: str | None = Query(None, description="A duration (1h, 30d) or an ISO time.", json_schema_extra=SINCE),
    p: Platform = Depends(platform),
) -> list[AuditCountView]:
    return await run_in_threadpool(p.audit.counts, since)
