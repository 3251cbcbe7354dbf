"""Endpoint metrics: stores the in-memory per-minute cells as rollups, answers time-range queries, and
reads the platform's gauges (jobs, tuning, queues, replicas) for the Prometheus exposition."""

from __future__ import annotations

import datetime as dt
import threading
import time

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from slipway.db import Database
from slipway.db.base import utcnow
from slipway.db.models import Endpoint, EndpointMetric, Job, Replica, TuningJob
from slipway.errors import InvalidArgument, NotFound
from slipway.monitoring.recorder import InvocationMetrics, percentile
from slipway.names import check_name
from slipway.schemas.metrics import EndpointMetrics, MinuteMetrics
from slipway.services.auth import parse_duration

__all__ = ["MetricsService", "parse_time"]


def time_range(since: str, until: str | None, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[since, until] from a query (until: None means now; an empty one is refused like any bad value)."""
    start = parse_time(since, "since", now)
    end = parse_time(until, "until", now) if until is not None else now
    if end < start:
        raise InvalidArgument(
            f"Field 'until' ({end.isoformat()}) is before 'since' ({start.isoformat()}). Give an 'until' later "
            "than 'since'.", {"field": "until", "value": until})
    return start, end


def parse_time(value: str, field: str, now: dt.datetime) -> dt.datetime:
    """A duration back from now (90s, 15m, 1h, 30d) or an ISO time; errors name the field."""
    try:
        when = dt.datetime.fromisoformat(value)
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    except ValueError:
        pass
    try:
        return now - parse_duration(value, field)
    except InvalidArgument:
        raise InvalidArgument(
            f"Field {field!r} has value {value!r}. Expected a duration (90s, 15m, 1h, 30d) or an ISO time "
            "(2026-11-22T14:00:00).", {"field": field, "value": value},
        ) from None


class MetricsService:
    def __init__(self, db: Database, recorder: InvocationMetrics, retention_days: int) -> None:
        self.db = db
        self.recorder = recorder
        self.retention_days = retention_days
        # The controller and a query may flush at once; two inserts of the same minute's row would clash.
        self._flushing = threading.Lock()

    def flush(self) -> int:
        """Add the recorded cells to the per-minute rollups; return how many rows changed."""
        with self._flushing:
            return self._flush()

    def _flush(self) -> int:
        pending = self.recorder.drain()
        if not pending:
            return 0

        def _do(s: Session) -> None:
            for (endpoint, variant, minute), cell in pending.items():
                row = s.execute(select(EndpointMetric).where(
                    EndpointMetric.endpoint == endpoint, EndpointMetric.variant == variant,
                    EndpointMetric.minute == minute).with_for_update()).scalar_one_or_none()
                if row is None:
                    s.add(EndpointMetric(
                        endpoint=endpoint, variant=variant, minute=minute, requests=cell.requests,
                        status_2xx=sum(cell.classes[:3]), status_4xx=cell.classes[3], status_5xx=cell.classes[4],
                        latency_sum_ms=cell.latency_sum_ms, latency_max_ms=cell.latency_max_ms,
                        buckets=list(cell.buckets)))
                    continue
                row.requests += cell.requests
                row.status_2xx += sum(cell.classes[:3])
                row.status_4xx += cell.classes[3]
                row.status_5xx += cell.classes[4]
                row.latency_sum_ms += cell.latency_sum_ms
                row.latency_max_ms = max(row.latency_max_ms, cell.latency_max_ms)
                row.buckets = [a + b for a, b in zip(row.buckets, cell.buckets, strict=True)]

        try:
            self.db.run(_do)
        except Exception:
            self.recorder.restore(pending)
            raise
        return len(pending)

    def purge(self, now: float | None = None) -> int:
        """Delete rollups older than the retention; return how many."""
        oldest = int((now if now is not None else time.time()) - self.retention_days * 86400) // 60

        def _do(s: Session) -> int:
            return s.execute(delete(EndpointMetric).where(EndpointMetric.minute < oldest)).rowcount or 0

        return self.db.run(_do)

    def query(self, endpoint: str, since: str = "1h", until: str | None = None) -> EndpointMetrics:
        """Per-minute, per-variant figures of ``endpoint`` between ``since`` and ``until`` (default now)."""
        check_name(endpoint, "endpoint")
        start, end = time_range(since, until, utcnow())
        self.flush()  # what this process recorded so far is part of the answer
        with self.db.session() as s:
            if s.scalar(select(func.count(Endpoint.id)).where(Endpoint.name == endpoint)) == 0 and s.scalar(
                    select(func.count(EndpointMetric.id)).where(EndpointMetric.endpoint == endpoint)) == 0:
                raise NotFound(f"Endpoint {endpoint!r} not found. List endpoints with: slipway endpoints list",
                               {"endpoint": endpoint})
            rows = s.execute(select(EndpointMetric).where(
                EndpointMetric.endpoint == endpoint, EndpointMetric.minute >= int(start.timestamp()) // 60,
                EndpointMetric.minute <= int(end.timestamp()) // 60,
            ).order_by(EndpointMetric.minute, EndpointMetric.variant)).scalars().all()
            points = [_point(r) for r in rows]
        return EndpointMetrics(endpoint=endpoint, since=start.isoformat(), until=end.isoformat(), points=points)

    def gauges(self) -> dict[str, dict[tuple[str, ...], float]]:
        """Platform gauges read from the database at scrape time: name -> label values -> value."""
        with self.db.session() as s:
            jobs = s.execute(select(Job.status, func.count(Job.id)).group_by(Job.status)).all()
            tuning = s.execute(select(TuningJob.status, func.count(TuningJob.id)).group_by(TuningJob.status)).all()
            endpoints = s.execute(select(Endpoint.status, func.count(Endpoint.id)).group_by(Endpoint.status)).all()
            replicas = s.execute(select(Endpoint.name, Replica.variant, Replica.status, func.count(Replica.id))
                                 .join(Replica, Replica.endpoint_id == Endpoint.id)
                                 .group_by(Endpoint.name, Replica.variant, Replica.status)).all()
        out: dict[str, dict[tuple[str, ...], float]] = {
            "jobs": {(st,): n for st, n in jobs},
            "tuning_jobs": {(st,): n for st, n in tuning},
            "endpoints": {(st,): n for st, n in endpoints},
            "replicas": {(ep, v, st): n for ep, v, st, n in replicas},
        }
        out["job_queue"] = {(): float(out["jobs"].get(("Pending",), 0))}
        out.update(self._monitoring_gauges())
        return out

    def _monitoring_gauges(self) -> dict[str, dict[tuple[str, ...], float]]:
        from slipway.db.models import Alarm, MonitorRun

        with self.db.session() as s:
            alarms = s.execute(select(Alarm.name, Alarm.state)).all()
            newest = select(func.max(MonitorRun.id)).where(MonitorRun.status == "Completed").group_by(MonitorRun.monitor)
            runs = s.execute(select(MonitorRun.monitor, MonitorRun.drifted).where(MonitorRun.id.in_(newest))).all()
        return {"alarm_state": {(name, st): float(st == state) for name, state in alarms
                                for st in ("OK", "ALARM", "INSUFFICIENT_DATA")},
                "monitor_drifted_features": {(m,): float(len(d or [])) for m, d in runs}}


def _point(r: EndpointMetric) -> MinuteMetrics:
    buckets: list[int] = list(r.buckets)
    n = r.requests

    def q(p: float) -> float | None:
        v = percentile(buckets, p)
        return None if v is None else round(min(v, r.latency_max_ms), 3)

    return MinuteMetrics(
        minute=dt.datetime.fromtimestamp(r.minute * 60, dt.UTC).isoformat(), variant=r.variant, requests=n,
        requests_per_second=round(n / 60.0, 3), p50_ms=q(0.5), p95_ms=q(0.95), p99_ms=q(0.99),
        mean_ms=round(r.latency_sum_ms / n, 3) if n else None, max_ms=round(r.latency_max_ms, 3) if n else None,
        status_2xx=r.status_2xx, status_4xx=r.status_4xx, status_5xx=r.status_5xx)

