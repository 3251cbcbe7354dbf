"""The audit trail: append-only records of mutating and denied calls, and counts of inference calls.

Reads are recorded only when the ``audit_reads`` setting is on. Calls in ``COUNTED_ACTIONS``
(inference) are counted per day, user, action and resource in memory and flushed by a controller,
so the hot path never waits on a database write.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from typing import Any

from sqlalchemy import select

from slipway.db import Database, utcnow
from slipway.db.models import AuditCount, AuditEvent
from slipway.errors import InvalidArgument
from slipway.names import escape_controls
from slipway.schemas.auth import AuditCountView, AuditEventView, Page
from slipway.services.auth import parse_duration

__all__ = ["COUNTED_ACTIONS", "READ_VERBS", "AuditService"]

COUNTED_ACTIONS = frozenset({"endpoints:Invoke"})
READ_VERBS = ("List", "Get", "GetStatus", "GetMetrics", "WhoAmI", "GetObject", "ListBucket", "ListAllMyBuckets")


def _is_read(action: str) -> bool:
    verb = action.split(":", 1)[-1]
    return verb in READ_VERBS


class AuditService:
    def __init__(self, db: Database, record_reads: bool = False) -> None:
        self.db = db
        self.record_reads = record_reads
        self._counts: Counter[tuple[str, str, str, str]] = Counter()
        self._lock = threading.Lock()

    def should_record(self, action: str, outcome: str) -> bool:
        if outcome == "denied":
            return True
        if action in COUNTED_ACTIONS:
            return False
        return self.record_reads or not _is_read(action)

    def observe(self, **event: Any) -> None:
        """One finished call: recorded, counted, or ignored (allowed reads) according to the rules."""
        action, outcome = event["action"], event["outcome"]
        if outcome != "denied" and action in COUNTED_ACTIONS:
            self.count(event.get("user", ""), action, event.get("resource", ""))
        elif self.should_record(action, outcome):
            self.record(**event)

    def record(self, **event: Any) -> None:
        # Escaped: a control character in a path or a message must not forge or hide lines of the trail.
        fields = {k: (escape_controls(v)[:limit] if isinstance(v, str) else v) for k, v, limit in (
            (k, v, 1024 if k == "path" else 512 if k == "resource" else 4000 if k == "message" else 128)
            for k, v in event.items())}
        self.db.run(lambda s: s.add(AuditEvent(time=utcnow(), **fields)))

    def count(self, user: str, action: str, resource: str) -> None:
        day = utcnow().date().isoformat()
        with self._lock:
            self._counts[(day, user, action, resource)] += 1

    def flush(self) -> int:
        """Add the in-memory counts to the database; return how many rows changed."""
        with self._lock:
            pending, self._counts = self._counts, Counter()
        if not pending:
            return 0

        def _do(s: Any) -> None:
            for (day, user, action, resource), n in pending.items():
                row = s.execute(select(AuditCount).where(
                    AuditCount.day == day, AuditCount.user == user, AuditCount.action == action,
                    AuditCount.resource == resource).with_for_update()).scalar_one_or_none()
                if row is None:
                    s.add(AuditCount(day=day, user=user, action=action, resource=resource, count=n))
                else:
                    row.count += n

        try:
            self.db.run(_do)
        except Exception:
            with self._lock:
                self._counts.update(pending)
            raise
        return len(pending)

    def counts(self, since: str | None = None) -> list[AuditCountView]:
        self.flush()
        with self.db.session() as s:
            q = select(AuditCount).order_by(AuditCount.day, AuditCount.user, AuditCount.action, AuditCount.resource)
            if since is not None:
                q = q.where(AuditCount.day >= self._since(since).date().isoformat())
            return [AuditCountView(day=r.day, user=r.user, action=r.action, resource=r.resource, count=r.count)
                    for r in s.execute(q).scalars()]

    @staticmethod
    def _since(since: str) -> dt.datetime:
        try:
            when = dt.datetime.fromisoformat(since)
            return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        except ValueError:
            pass
        try:
            return utcnow() - parse_duration(since, "since")
        except (InvalidArgument, OverflowError):  # OverflowError: a duration longer than the calendar
            raise InvalidArgument(
                f"Field 'since' has value {since!r}. Expected a duration (90s, 15m, 1h, 30d) or an ISO time "
                "(2026-11-22T14:00:00).", {"field": "since", "value": since},
            ) from None

    def list(self, since: str | None = None, user: str | None = None, action: str | None = None,
             outcome: str | None = None, limit: int = 50, offset: int = 0) -> Page[AuditEventView]:
        """Newest first. ``action`` may use ``*`` wildcards (``datasets:*``)."""
        from sqlalchemy import func

        q = select(AuditEvent)
        if since is not None:
            q = q.where(AuditEvent.time >= self._since(since))
        if user:
            q = q.where(AuditEvent.user == user)
        if outcome:
            q = q.where(AuditEvent.outcome == outcome)
        if action:
            pattern = action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%")
            q = q.where(func.lower(AuditEvent.action).like(pattern.lower(), escape="\\"))
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.execute(q.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)).scalars().all()
            items = [AuditEventView(id=r.id, time=r.time, user=r.user, key_id=r.key_id, action=r.action,
                                    resource=r.resource, method=r.method, path=r.path, source=r.source,
                                    request_id=r.request_id, outcome=r.outcome, status=r.status, message=r.message)
                     for r in rows]
        nxt = str(offset + limit) if offset + limit < total else None
        return Page[AuditEventView](items=items, total=total, next_page_token=nxt)
