"""Alarms with CloudWatch's semantics: a metric, a statistic over each period, a comparison with a threshold,
M of the last N periods breaching, a treatment of missing data; states OK | ALARM | INSUFFICIENT_DATA with
a reason and a history; actions on each change of state.

Metrics an alarm can watch:

- ``endpoint/<name>/<field>``: the per-minute rollups (fields in ``ENDPOINT_FIELDS``);
- ``monitor/<name>/drifted_features`` and ``monitor/<name>/<feature>/<psi|ks|js|chi2_p>``: the runs of a monitor.

Actions are kinds in ``ACTIONS`` (``kind -> function(context, target, event) -> detail``); a new kind (e.g.
starting a pipeline) is one entry there. ``webhook`` POSTs the event as JSON on every change; the others act
when the alarm goes to ALARM. Kinds in ``QUEUED`` (webhook) are never run by the evaluation: they are queued
with the state change (table ``alarm_notifications``) and tried by the ``alarm-notifications`` controller
(:meth:`AlarmService.deliver_due`), each try with a short timeout, retried with backoff, the outcome written
into the history entry. An alarm whose endpoint or monitor was deleted goes to INSUFFICIENT_DATA, saying so.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway.db import Database
from slipway.db.base import utcnow
from slipway.db.models import Alarm, AlarmEvent, AlarmNotification, Endpoint, EndpointMetric
from slipway.errors import Conflict, InvalidArgument, NotFound
from slipway.monitoring.drift import STATISTICS
from slipway.monitoring.recorder import percentile
from slipway.names import check_name
from slipway.schemas.monitors import AlarmEventView, AlarmView
from slipway.services import events
from slipway.services.auth import parse_duration

__all__ = ["ACTIONS", "ENDPOINT_FIELDS", "QUEUED", "STATES", "AlarmService", "Retry", "webhook_action"]

log = logging.getLogger("slipway.alarms")

STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
MISSING = ("missing", "ignore", "breaching", "notBreaching")
ENDPOINT_FIELDS = ("requests", "requests_per_second", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms",
                   "status_4xx", "status_5xx", "error_rate")
MAX_PERIOD = 86400
KEEP_HISTORY = 200
WEBHOOK_BACKOFF = (0.5, 1.0, 2.0)  # seconds before the 2nd, 3rd and 4th try of a queued action
WEBHOOK_TIMEOUT = 3.0  # seconds one try may take (connect, send, answer); a hanging receiver costs the notifier this
NOTIFY_BATCH = 50  # queued actions tried per notifier pass at most
NOTIFY_THREADS = 8  # of them at the same time at most


@dataclass
class ActionContext:
    """What an action may use: the alarm, the endpoint its metric belongs to, and the platform's services."""

    alarm: str
    endpoint: str | None
    endpoints: Any  # EndpointService
    sleep: Callable[[float], None]
    timeout: float = WEBHOOK_TIMEOUT  # seconds a queued action's one try may take


class Retry(RuntimeError):  # noqa: N818 (a signal, not an error: try again later)
    """A queued action's try failed in a way worth trying again (connection error, timeout, 5xx, 429)."""


def webhook_action(ctx: ActionContext, target: str, event: dict[str, Any]) -> str:
    """One POST of the event as JSON with a short timeout; the notifier retries it with backoff on a connection
    error, a timeout, a 5xx or a 429 answer (raised as :class:`Retry`), and gives up on any other answer."""
    import httpx

    try:
        r = httpx.post(target, json=event, timeout=ctx.timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise Retry(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
    if r.status_code < 300:
        return f"HTTP {r.status_code}"
    if r.status_code >= 500 or r.status_code == 429:
        raise Retry(f"HTTP {r.status_code}")
    raise RuntimeError(f"HTTP {r.status_code}")


def rollback_action(ctx: ActionContext, target: str, event: dict[str, Any]) -> str:
    if event["state"] != "ALARM":
        return "skipped (acts on ALARM only)"
    endpoint = target or ctx.endpoint
    if not endpoint:
        raise RuntimeError("no endpoint to roll back (the metric names none; give rollback=ENDPOINT)")
    ep = ctx.endpoints.rollback(endpoint, user=f"alarm:{ctx.alarm}")
    return f"rolled back {endpoint} (deployment {ep.deployments[0].number if ep.deployments else '?'})"


# kind -> function(context, target, event) -> what it did (raises on failure); each decides on which states it acts
ACTIONS: dict[str, Callable[[ActionContext, str, dict[str, Any]], str]] = {
    "webhook": webhook_action,
    "rollback": rollback_action,
}
# Kinds that reach outside the platform: never run by the evaluation itself, but queued (table
# alarm_notifications) and tried by the notifier controller, each try with a short timeout, retried on Retry.
QUEUED = frozenset({"webhook"})


def parse_action(text: str) -> dict[str, str]:
    kind, _, target = text.partition("=")
    kind = kind.strip()
    if kind not in ACTIONS:
        raise InvalidArgument(f"Field 'action' has value {text!r}. Expected one of: "
                              f"{', '.join(k + ('=URL' if k == 'webhook' else '') for k in ACTIONS)}.",
                              {"field": "action", "value": text, "expected": list(ACTIONS)})
    if kind == "webhook":
        import httpx

        try:
            url = httpx.URL(target)
        except (httpx.InvalidURL, TypeError):
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise InvalidArgument(f"Field 'action' has webhook URL {target!r}. Expected an http:// or https:// URL, "
                                  "e.g. webhook=https://hooks.example.com/slipway.",
                                  {"field": "action", "value": text})
    return {"kind": kind, "target": target}


def _period(text: str) -> int:
    seconds = int(parse_duration(text, "period").total_seconds())
    if seconds not in (10, 30) and (seconds % 60 or seconds > MAX_PERIOD):
        raise InvalidArgument(f"Field 'period' has value {text!r}. Expected 10s, 30s or a whole number of minutes "
                              "up to 1d (CloudWatch's periods).", {"field": "period", "value": text})
    return seconds


def _statistic(values: list[float], statistic: str) -> float:
    arr = np.array(values, dtype=float)
    if statistic == "avg":
        return float(arr.mean())
    if statistic == "min":
        return float(arr.min())
    if statistic == "max":
        return float(arr.max())
    if statistic == "sum":
        return float(arr.sum())
    if statistic == "count":
        return float(len(arr))
    return float(np.percentile(arr, float(statistic[1:])))


def _check_statistic(statistic: str) -> str:
    ok = statistic in ("avg", "min", "max", "sum", "count")
    if not ok and statistic.startswith("p"):
        try:
            ok = 0.0 <= float(statistic[1:]) <= 100.0
        except ValueError:
            ok = False
    if not ok:
        raise InvalidArgument(f"Field 'statistic' has value {statistic!r}. Expected avg, min, max, sum, count or "
                              "a percentile p0-p100 (p99).", {"field": "statistic", "value": statistic})
    return statistic


class AlarmService:
    def __init__(self, db: Database, monitors: Any, endpoints: Any, metrics: Any,
                 clock: Callable[[], dt.datetime] = utcnow, sleep: Callable[[float], None] = time.sleep) -> None:
        self.db = db
        self.monitors = monitors
        self.endpoints = endpoints
        self.metrics = metrics
        self.clock = clock
        self.sleep = sleep
        self.webhook_timeout = WEBHOOK_TIMEOUT

    # -- definitions -----------------------------------------------------------------------------------

    def _check_metric(self, metric: str) -> None:
        parts = metric.split("/")
        if len(parts) >= 3 and parts[0] == "endpoint":
            if len(parts) != 3 or parts[2] not in ENDPOINT_FIELDS:
                raise InvalidArgument(f"Field 'metric' has value {metric!r}. Expected endpoint/NAME/FIELD with FIELD "
                                      f"one of {', '.join(ENDPOINT_FIELDS)}.", {"field": "metric", "value": metric})
            with self.db.session() as s:
                if not s.scalar(select(func.count(Endpoint.id)).where(Endpoint.name == parts[1])):
                    raise NotFound(f"Metric {metric!r} does not exist: endpoint {parts[1]!r} not found. List "
                                   "endpoints with: slipway endpoints list", {"field": "metric", "value": metric})
            return
        if len(parts) >= 3 and parts[0] == "monitor":
            series = "/".join(parts[2:])
            good = series == "drifted_features" or (len(parts) == 4 and parts[3] in STATISTICS)
            if not good:
                raise InvalidArgument(
                    f"Field 'metric' has value {metric!r}. Expected monitor/NAME/drifted_features or "
                    f"monitor/NAME/FEATURE/STAT with STAT one of {', '.join(STATISTICS)}.",
                    {"field": "metric", "value": metric})
            if not self.monitors.exists(parts[1]):
                raise NotFound(f"Metric {metric!r} does not exist: monitor {parts[1]!r} not found. List monitors "
                               "with: slipway monitors list", {"field": "metric", "value": metric})
            if series != "drifted_features":
                known = self.monitors.features(parts[1])
                if known and parts[2] not in known:
                    raise NotFound(
                        f"Metric {metric!r} does not exist: the baseline of monitor {parts[1]!r} has no feature "
                        f"{parts[2]!r}. Its features: {', '.join(known[:20])}{' …' if len(known) > 20 else ''}.",
                        {"field": "metric", "value": metric})
            return
        raise InvalidArgument(f"Field 'metric' has value {metric!r}. Expected endpoint/NAME/FIELD or "
                              "monitor/NAME/drifted_features or monitor/NAME/FEATURE/STAT.",
                              {"field": "metric", "value": metric})

    def create(self, name: str, metric: str, threshold: float, comparison: str = "above", datapoints: int = 1,
               evaluation_periods: int = 1, period: str = "1m", statistic: str = "avg", missing: str = "missing",
               actions: list[str] | None = None, user: str = "") -> AlarmView:
        check_name(name, "alarm")
        if comparison not in ("above", "below"):
            raise InvalidArgument(f"Field 'comparison' has value {comparison!r}. Expected above or below.",
                                  {"field": "comparison", "value": comparison})
        if not (isinstance(threshold, (int, float)) and np.isfinite(threshold) and abs(threshold) <= 1e12):
            raise InvalidArgument(f"Field 'threshold' has value {threshold!r}. Expected a finite number in "
                                  "[-1e12, 1e12].", {"field": "threshold", "value": str(threshold)})
        if not 1 <= evaluation_periods <= 100 or not 1 <= datapoints <= evaluation_periods:
            raise InvalidArgument(
                f"Field 'for' has value {datapoints}of{evaluation_periods}. Expected M of N with 1 <= M <= N <= 100 "
                "(e.g. 3of5).", {"field": "for", "value": f"{datapoints}of{evaluation_periods}"})
        seconds = _period(period)
        _check_statistic(statistic)
        if missing not in MISSING:
            raise InvalidArgument(f"Field 'missing' has value {missing!r}. Expected one of {', '.join(MISSING)}.",
                                  {"field": "missing", "value": missing, "expected": list(MISSING)})
        parsed = [parse_action(a) for a in actions or []]
        self._check_metric(metric)
        now = self.clock()

        def _do(s: Session) -> AlarmView:
            a = Alarm(name=name, metric=metric, statistic=statistic, comparison=comparison, threshold=float(threshold),
                      datapoints=datapoints, evaluation_periods=evaluation_periods, period_seconds=seconds,
                      missing=missing, actions=parsed, enabled=True, state="INSUFFICIENT_DATA",
                      state_reason="Not evaluated yet.", state_since=now, created_at=now, created_by=user)
            s.add(a)
            s.flush()
            return self._view(a)

        try:
            return self.db.run(_do)
        except IntegrityError:
            raise Conflict(f"Alarm {name!r} already exists. Delete it first: slipway alarms delete {name}",
                           {"field": "name", "value": name}) from None

    def _view(self, a: Alarm, history: list[AlarmEvent] | None = None) -> AlarmView:
        return AlarmView(name=a.name, metric=a.metric, statistic=a.statistic, comparison=a.comparison,
                         threshold=a.threshold, datapoints=a.datapoints, evaluation_periods=a.evaluation_periods,
                         period_seconds=a.period_seconds, missing=a.missing, actions=list(a.actions or []),
                         state=a.state, state_reason=a.state_reason, state_since=a.state_since,
                         evaluated_at=a.evaluated_at, created_at=a.created_at, created_by=a.created_by,
                         history=[AlarmEventView(at=e.at, from_state=e.from_state, to_state=e.to_state,
                                                 reason=e.reason, actions=list(e.actions or []))
                                  for e in history or []])

    def _get(self, s: Session, name: str) -> Alarm:
        a = s.execute(select(Alarm).where(Alarm.name == name)).scalar_one_or_none()
        if a is None:
            raise NotFound(f"Alarm {name!r} not found. List alarms with: slipway alarms list",
                           {"field": "name", "value": name})
        return a

    def list(self) -> list[AlarmView]:
        with self.db.session() as s:
            return [self._view(a) for a in s.execute(select(Alarm).order_by(Alarm.name)).scalars()]

    def get(self, name: str, history: int = 50) -> AlarmView:
        check_name(name, "alarm")
        with self.db.session() as s:
            a = self._get(s, name)
            events = s.execute(select(AlarmEvent).where(AlarmEvent.alarm == name)
                               .order_by(AlarmEvent.id.desc()).limit(history)).scalars().all()
            return self._view(a, list(events))

    def delete(self, name: str) -> AlarmView:
        check_name(name, "alarm")

        def _do(s: Session) -> AlarmView:
            a = self._get(s, name)
            view = self._view(a)
            s.execute(delete(AlarmEvent).where(AlarmEvent.alarm == name))
            s.execute(delete(AlarmNotification).where(AlarmNotification.alarm == name))
            s.delete(a)
            return view

        return self.db.run(_do)

    # -- evaluating --------------------------------------------------------------------------------------

    def samples(self, metric: str, start: dt.datetime, end: dt.datetime) -> list[tuple[float, float]]:
        """(unix time, value) samples of a metric in [start, end]."""
        kind, name, series = metric.split("/", 2)
        if kind == "monitor":
            return self.monitors.samples(name, series, start, end)
        with self.db.session() as s:
            rows = s.execute(select(EndpointMetric).where(
                EndpointMetric.endpoint == name, EndpointMetric.minute >= int(start.timestamp()) // 60,
                EndpointMetric.minute <= int(end.timestamp()) // 60)).scalars().all()
            minutes: dict[int, list[EndpointMetric]] = {}
            for r in rows:
                minutes.setdefault(r.minute, []).append(r)
        out = []
        for minute, cells in sorted(minutes.items()):
            n = sum(c.requests for c in cells)
            if series == "requests":
                value: float | None = float(n)
            elif series == "requests_per_second":
                value = n / 60.0
            elif series == "status_4xx":
                value = float(sum(c.status_4xx for c in cells))
            elif series == "status_5xx":
                value = float(sum(c.status_5xx for c in cells))
            elif series == "error_rate":
                value = sum(c.status_5xx for c in cells) / n if n else None
            elif series == "mean_ms":
                value = sum(c.latency_sum_ms for c in cells) / n if n else None
            elif series == "max_ms":
                value = max(c.latency_max_ms for c in cells) if n else None
            else:  # p50_ms, p95_ms, p99_ms from the merged latency buckets
                merged = [sum(b) for b in zip(*(c.buckets for c in cells), strict=True)]
                q = percentile(merged, float(series[1:3]) / 100.0)
                value = None if q is None else min(q, max(c.latency_max_ms for c in cells))
            if value is not None:
                out.append((minute * 60.0, value))
        return out

    def evaluate(self, now: dt.datetime | None = None) -> int:
        """Evaluate every alarm at ``now``; run the actions of those whose state changed; return how many changed."""
        now = now or self.clock()
        if self.metrics is not None:
            try:
                self.metrics.flush()
            except Exception:  # the figures already stored still count
                log.exception("Could not flush metrics before evaluating alarms")
        with self.db.session() as s:
            names = list(s.execute(select(Alarm.name).where(Alarm.enabled.is_(True)).order_by(Alarm.name)).scalars())
        changed = 0
        for name in names:
            try:
                changed += self.evaluate_one(name, now)
            except NotFound:
                continue
        return changed

    def evaluate_one(self, name: str, now: dt.datetime) -> int:
        with self.db.session() as s:
            a = self._get(s, name)
            spec = (a.metric, a.statistic, a.comparison, a.threshold, a.datapoints, a.evaluation_periods,
                    a.period_seconds, a.missing, list(a.actions or []), a.state)
        metric, statistic, comparison, threshold, m, n, period, missing, actions, state = spec
        gone = self._gone(metric)
        if gone is not None:  # the endpoint or monitor it watches was deleted: no data, and say why
            return self._orphaned(name, metric, threshold, comparison, actions, state, gone, now)
        start = now - dt.timedelta(seconds=period * n)
        samples = self.samples(metric, start, now)
        t_end = now.timestamp()
        points: list[float | None] = []  # newest period first
        for i in range(n):
            hi, lo = t_end - i * period, t_end - (i + 1) * period
            vals = [v for t, v in samples if lo < t <= hi or (i == n - 1 and t == lo)]
            points.append(_statistic(vals, statistic) if vals else None)

        def breaching(v: float) -> bool:
            return v > threshold if comparison == "above" else v < threshold

        present = [v for v in points if v is not None]
        if missing == "breaching":
            bad = sum(1 for v in points if v is None or breaching(v))
        else:
            bad = sum(1 for v in present if breaching(v))
        shown = ", ".join("-" if v is None else f"{v:g}" for v in points)
        rule = f"{statistic} {'>' if comparison == 'above' else '<'} {threshold:g} in {m} of {n} periods of {period}s"
        if bad >= m:
            new, reason = "ALARM", f"{bad} of the last {n} datapoints [{shown}] breach {rule}."
        elif not present and missing in ("missing", "ignore"):
            new = state if missing == "ignore" and state != "INSUFFICIENT_DATA" else "INSUFFICIENT_DATA"
            reason = (f"No datapoints in the last {n} periods of {period}s"
                      + (" (missing data ignored: state kept)." if new == state and missing == "ignore" else "."))
        else:
            new, reason = "OK", f"{bad} of the last {n} datapoints [{shown}] breach {rule} (fewer than {m})."
        if new == state:
            self.db.run(lambda s: setattr(self._get(s, name), "evaluated_at", now))
            return 0
        return self._change(name, metric, threshold, comparison, actions, state, new, reason, now, points)

    def _gone(self, metric: str) -> str | None:
        kind, target, _ = metric.split("/", 2)
        if kind == "monitor":
            return self.monitors.gone(target)
        with self.db.session() as s:
            status = s.execute(select(Endpoint.status).where(Endpoint.name == target)).scalar_one_or_none()
        if status is None or status == "Deleting":
            return (f"Endpoint {target!r} no longer exists (deleted), so its metrics get no new datapoints; an "
                    "endpoint created with that name again is watched again.")
        return None

    def _orphaned(self, name: str, metric: str, threshold: float, comparison: str, actions: list[dict[str, str]],
                  state: str, why: str, now: dt.datetime) -> int:
        reason = f"{why} Delete the alarm with: slipway alarms delete {name}"
        if state != "INSUFFICIENT_DATA":
            return self._change(name, metric, threshold, comparison, actions, state, "INSUFFICIENT_DATA", reason, now,
                                [])

        def _keep(s: Session) -> None:  # same state: only the reason (and when) changes, no history entry
            a = self._get(s, name)
            a.evaluated_at = now
            if a.state_reason != reason:
                a.state_reason = reason

        self.db.run(_keep)
        return 0

    def _change(self, name: str, metric: str, threshold: float, comparison: str, actions: list[dict[str, str]],
                state: str, new: str, reason: str, now: dt.datetime, points: list[float | None]) -> int:
        endpoint = self._endpoint_of(metric)
        event = {"alarm": name, "state": new, "previous_state": state, "reason": reason, "metric": metric,
                 "threshold": threshold, "comparison": comparison, "at": now.isoformat(), "datapoints": points}
        outcomes = self._act(name, endpoint, actions, event)

        def _do(s: Session) -> None:
            a = self._get(s, name)
            a.state, a.state_reason, a.state_since, a.evaluated_at = new, reason, now, now
            entry = AlarmEvent(alarm=name, at=now, from_state=state, to_state=new, reason=reason, actions=outcomes)
            s.add(entry)
            # the platform event (pipeline triggers: --on alarm:NAME) commits with the state change, or not at all
            events.emit(s, "alarm.state_changed", f"alarm/{name}", {"from": state, "to": new, "reason": reason})
            s.flush()
            for i, outcome in enumerate(outcomes):  # webhooks: the notifier sends them, with the change committed
                if outcome.get("status") == "pending":
                    s.add(AlarmNotification(alarm=name, event_id=entry.id, action_index=i, kind=outcome["kind"],
                                            target=outcome.get("target", ""), payload=event, status="Pending",
                                            attempts=0, next_attempt_at=now, detail="", created_at=now))
            old = s.execute(select(AlarmEvent.id).where(AlarmEvent.alarm == name)
                            .order_by(AlarmEvent.id.desc()).offset(KEEP_HISTORY)).scalars().all()
            if old:
                s.execute(delete(AlarmEvent).where(AlarmEvent.id.in_(old)))
                s.execute(delete(AlarmNotification).where(AlarmNotification.event_id.in_(old)))

        self.db.run(_do)
        return 1

    def _endpoint_of(self, metric: str) -> str | None:
        kind, name, _ = metric.split("/", 2)
        return name if kind == "endpoint" else self.monitors.endpoint_of(name)

    def _act(self, name: str, endpoint: str | None, actions: list[dict[str, str]], event: dict[str, Any]
             ) -> list[dict[str, Any]]:
        ctx = ActionContext(alarm=name, endpoint=endpoint, endpoints=self.endpoints, sleep=self.sleep)
        outcomes: list[dict[str, Any]] = []
        for action in actions:
            if action["kind"] in QUEUED:  # sent by the notifier: a hanging receiver never holds up the evaluation
                outcomes.append({**action, "ok": None, "status": "pending", "detail": "queued"})
                continue
            fn = ACTIONS.get(action["kind"])
            try:
                if fn is None:
                    raise RuntimeError(f"unknown action kind {action['kind']!r}")
                detail, ok = fn(ctx, action.get("target", ""), event), True
            except Exception as exc:  # visible in `alarms show`; the other actions still run
                detail, ok = getattr(exc, "message", None) or str(exc) or type(exc).__name__, False
                log.warning("Alarm %s: action %s failed: %s", name, action["kind"], detail)
            outcomes.append({**action, "ok": ok, "status": "ok" if ok else "failed", "detail": detail[:1000]})
        return outcomes

    # -- notifying (the alarm-notifications controller) ---------------------------------------------------

    def pending_notifications(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count(AlarmNotification.id))
                                .where(AlarmNotification.status == "Pending")) or 0)

    def deliver_due(self, now: dt.datetime | None = None) -> int:
        """Try each queued action (webhook) that is due once, at the same time (so one receiver that hangs holds
        up no other): a success or a final failure is written into its history entry (``ok``, ``status``
        delivered | failed, ``detail``) and the queue row removed; a retryable failure is tried again after the
        next backoff step. Returns how many were tried."""
        now = now or self.clock()
        with self.db.session() as s:
            due = [(n.id, n.alarm, n.event_id, n.action_index, n.kind, n.target, dict(n.payload or {}), n.attempts)
                   for n in s.execute(select(AlarmNotification).where(
                       AlarmNotification.status == "Pending", AlarmNotification.next_attempt_at <= now)
                       .order_by(AlarmNotification.next_attempt_at, AlarmNotification.id).limit(NOTIFY_BATCH)).scalars()]
        if not due:
            return 0
        if len(due) == 1:
            outcomes = [self._try(*due[0][1:], now=now)]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(NOTIFY_THREADS, len(due)), thread_name_prefix="alarm-notify") as ex:
                outcomes = list(ex.map(lambda d: self._try(*d[1:], now=now), due))
        for (nid, alarm, event_id, index, kind, target, _, attempts), (status, ok, detail, retry_at) in zip(
                due, outcomes, strict=True):
            if status == "failed":
                log.warning("Alarm %s: %s to %s failed: %s", alarm, kind, target, detail)
            self._delivered(nid, event_id, index, attempts + 1, status, ok, detail[:1000], retry_at)
        return len(due)

    def _try(self, alarm: str, event_id: int, index: int, kind: str, target: str, payload: dict[str, Any],
             attempts: int, now: dt.datetime) -> tuple[str, bool, str, dt.datetime | None]:
        """One try of a queued action: (status, ok, detail, when to try again)."""
        tries = attempts + 1
        ctx = ActionContext(alarm=alarm, endpoint=None, endpoints=self.endpoints, sleep=self.sleep,
                            timeout=self.webhook_timeout)
        fn = ACTIONS.get(kind)
        try:
            if fn is None:
                raise RuntimeError(f"unknown action kind {kind!r}")
            return "delivered", True, f"{fn(ctx, target, payload)} after {tries} tr{'y' if tries == 1 else 'ies'}", None
        except Retry as exc:
            if tries <= len(WEBHOOK_BACKOFF):
                pause = WEBHOOK_BACKOFF[tries - 1]
                return ("pending", False, f"try {tries}: {exc}; trying again in {pause:g}s",
                        now + dt.timedelta(seconds=pause))
            return "failed", False, f"{kind} failed after {tries} tries (last: {exc})", None
        except Exception as exc:  # an answer that retrying will not change (a 4xx)
            why = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            return "failed", False, f"{kind} failed on try {tries} ({why})", None

    def _delivered(self, nid: int, event_id: int, index: int, tries: int, status: str, ok: bool, detail: str,
                   retry_at: dt.datetime | None) -> None:
        def _do(s: Session) -> None:
            n = s.get(AlarmNotification, nid)
            if n is None:  # the alarm was deleted meanwhile
                return
            entry = s.get(AlarmEvent, event_id)
            if entry is not None and index < len(entry.actions or []):
                actions = [dict(x) for x in entry.actions]
                actions[index].update(ok=None if status == "pending" else ok, status=status, detail=detail)
                entry.actions = actions
            if retry_at is None:
                s.delete(n)  # the outcome lives in the history entry
            else:
                n.attempts, n.next_attempt_at, n.detail = tries, retry_at, detail

        self.db.run(_do)
