"""The overview's recent activity: the audit trail and the newest jobs, models and endpoints, as one timeline.

Each source is read only when the signed-in principal may read it (the same check the API makes),
so a viewer's overview shows what a viewer could list, and no more.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from slipway.errors import Forbidden
from slipway.services import Platform
from slipway.services.auth import Principal

__all__ = ["Activity", "recent_activity"]

# Where a resource string (the audit trail's ``model/cancer``) has a page.
_PAGES = {"dataset": "/ui/datasets/", "job": "/ui/jobs/", "tuning": "/ui/tuning/", "model": "/ui/models/",
          "endpoint": "/ui/endpoints/", "key": "/ui/keys#"}


@dataclass(frozen=True)
class Activity:
    time: dt.datetime
    who: str
    what: str
    target: str
    href: str
    outcome: str = "ok"  # ok | denied | failed | running


def _href(resource: str) -> str:
    kind, _, name = resource.partition("/")
    base = _PAGES.get(kind)
    return base + name if base and name and "*" not in name else ""


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _allowed(platform: Platform, principal: Principal | None, action: str) -> bool:
    if principal is None:
        return False
    try:
        platform.auth.authorize(principal, action, "*")
    except Forbidden:
        return False
    return True


def recent_activity(platform: Platform, principal: Principal | None, limit: int = 25
                    ) -> tuple[list[Activity], list[str]]:
    """Newest first; also the sources left out because this principal may not read them."""
    items: list[Activity] = []
    hidden: list[str] = []
    if _allowed(platform, principal, "audit:List"):
        for e in platform.audit.list(limit=limit).items:
            outcome = "ok" if e.outcome == "allowed" else e.outcome
            items.append(Activity(_aware(e.time), e.user or "(anonymous)", e.action, e.resource, _href(e.resource),
                                  outcome))
    else:
        hidden.append("the audit trail (audit:List)")
    if _allowed(platform, principal, "jobs:List"):
        for j in platform.training.list(None, 10, 0).items:
            when = j.ended_at or j.started_at or j.created_at
            state = "ok" if j.status == "Completed" else "failed" if j.status in ("Failed", "Stopped") else "running"
            items.append(Activity(_aware(when), j.created_by, f"training job {j.status}", f"job/{j.name}",
                                  f"/ui/jobs/{j.name}", state))
    else:
        hidden.append("jobs (jobs:List)")
    if _allowed(platform, principal, "models:List"):
        for m in platform.registry.list(200, 0).items:
            if m.latest is not None:
                items.append(Activity(_aware(m.latest.created_at), m.latest.created_by,
                                      f"model version {m.latest.ref} registered", f"model/{m.name}",
                                      f"/ui/models/{m.name}"))
    else:
        hidden.append("models (models:List)")
    if _allowed(platform, principal, "endpoints:List"):
        for ep in platform.endpoints.list(200, 0).items:
            state = "ok" if ep.status == "InService" else "failed" if ep.status == "Failed" else "running"
            items.append(Activity(_aware(ep.updated_at), ep.created_by, f"endpoint {ep.status}",
                                  f"endpoint/{ep.name}", f"/ui/endpoints/{ep.name}", state))
    else:
        hidden.append("endpoints (endpoints:List)")
    items.sort(key=lambda a: a.time, reverse=True)
    return items[:limit], hidden
