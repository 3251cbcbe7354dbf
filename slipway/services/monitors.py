"""Drift monitors: a schedule that compares an endpoint's captured inputs of a window with a model version's
training baseline (slipway.monitoring.drift), keeping each run as history and as metrics for alarms
(``monitor/<name>/drifted_features``, ``monitor/<name>/<feature>/<psi|ks|js|chi2_p>``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway.db import Database
from slipway.db.base import utcnow
from slipway.db.models import Endpoint, Monitor, MonitorRun
from slipway.errors import Conflict, InvalidArgument, NotFound
from slipway.monitoring.drift import (
    CATEGORICAL_STATISTICS,
    NUMERIC_STATISTICS,
    STATISTICS,
    compare,
    rows_from_records,
)
from slipway.names import check_name
from slipway.schemas.monitors import MonitorRunView, MonitorView
from slipway.services.auth import parse_duration

__all__ = ["MonitorService", "check_threshold_features", "delete_endpoint_monitors", "parse_thresholds"]

MIN_EVERY, MAX_EVERY = 60, 7 * 86400
MIN_WINDOW, MAX_WINDOW = 60, 30 * 86400
KEEP_RUNS = 1000  # runs kept per monitor (older ones are deleted)
MAX_RECORDS = 10_000  # captured requests read per run at most (the newest)


def _duration(text: str, field: str, lo: int, hi: int) -> int:
    seconds = int(parse_duration(text, field).total_seconds())
    if not lo <= seconds <= hi:
        raise InvalidArgument(f"Field {field!r} has value {text!r}. Expected a duration from {lo // 60}m to "
                              f"{hi // 86400}d.", {"field": field, "value": text})
    return seconds


def parse_thresholds(items: list[str] | dict[str, float] | None) -> dict[str, float]:
    """``["psi=0.2", "mean_radius:psi=0.1"]`` or a dict -> {"psi": 0.2, "mean_radius:psi": 0.1}, each checked:
    a known statistic, optionally after ``FEATURE:``, and a number in its range (the features are checked against
    the baseline by :func:`check_threshold_features`)."""
    given: dict[str, Any] = {}
    if isinstance(items, dict):
        given = dict(items)
    else:
        for item in items or []:
            key, sep, value = item.rpartition("=")
            if not sep or not key.strip():
                raise InvalidArgument(f"Field 'threshold' has value {item!r}. Expected [FEATURE:]STATISTIC=VALUE, "
                                      "e.g. psi=0.2 or mean_radius:psi=0.1.", {"field": "threshold", "value": item})
            given[key.strip()] = value.strip()
    out: dict[str, float] = {}
    for key, value in given.items():
        feature, colon, stat = str(key).rpartition(":")
        feature, stat = feature.strip(), stat.strip()
        if stat not in STATISTICS or (colon and not feature):
            raise InvalidArgument(f"Field 'threshold' names statistic {key!r}. Expected one of "
                                  f"{', '.join(STATISTICS)}, optionally for one feature (FEATURE:STATISTIC).",
                                  {"field": "threshold", "value": key, "expected": list(STATISTICS)})
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        top = 10.0 if stat == "psi" else 1.0
        if not 0.0 < number <= top:
            raise InvalidArgument(f"Field 'threshold' has value {key}={value}. Expected a number in (0, {top:g}] "
                                  f"for {stat}.", {"field": "threshold", "value": f"{key}={value}"})
        out[f"{feature}:{stat}" if feature else stat] = number
    return out


def check_threshold_features(limits: dict[str, float], statistics: dict[str, Any], baseline: str) -> None:
    """Each per-feature threshold names a feature of the baseline and a statistic of its kind (numbers: psi, ks;
    categories: js, chi2_p)."""
    kinds = {f["name"]: ("numeric", NUMERIC_STATISTICS) if "numerical_statistics" in f
             else ("categorical", CATEGORICAL_STATISTICS) for f in statistics.get("features", [])}
    for key in limits:
        feature, colon, stat = key.rpartition(":")
        if not colon:
            continue
        if feature not in kinds:
            names = list(kinds)
            raise InvalidArgument(
                f"Field 'threshold' names feature {feature!r}, which the baseline of {baseline} does not have. Its "
                f"features: {', '.join(names[:50])}{' …' if len(names) > 50 else ''}.",
                {"field": "threshold", "value": key, "expected": names[:200]})
        kind, allowed = kinds[feature]
        if stat not in allowed:
            raise InvalidArgument(
                f"Field 'threshold' has {key!r}, but {feature!r} is {kind}: its statistics are "
                f"{' and '.join(allowed)}.", {"field": "threshold", "value": key, "expected": list(allowed)})


def delete_endpoint_monitors(s: Session, endpoint: str) -> list[str]:
    """Delete the monitors of an endpoint being deleted, with their run history, in the caller's transaction;
    the names deleted. (Alarms on their metrics stay, INSUFFICIENT_DATA with the reason, as CloudWatch's do.)"""
    names = list(s.execute(select(Monitor.name).where(Monitor.endpoint == endpoint).order_by(Monitor.name)).scalars())
    if names:
        s.execute(delete(MonitorRun).where(MonitorRun.monitor.in_(names)))
        s.execute(delete(Monitor).where(Monitor.name.in_(names)))
    return names


def _run_view(r: MonitorRun) -> MonitorRunView:
    res = r.results or {}
    return MonitorRunView(id=r.id, started_at=r.started_at, status=r.status, message=r.message, rows=r.rows,
                          drifted_features=list(r.drifted or []), features=res.get("features", []),
                          violations=res.get("violations", []))


class MonitorService:
    def __init__(self, db: Database, baselines: Any, capture: Any, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.baselines = baselines
        self.capture = capture
        self.clock = clock

    def _view(self, m: Monitor, runs: list[MonitorRun] | None = None) -> MonitorView:
        return MonitorView(name=m.name, endpoint=m.endpoint, baseline=m.baseline, every_seconds=m.every_seconds,
                           window_seconds=m.window_seconds, thresholds=dict(m.thresholds or {}),
                           next_run_at=m.next_run_at, last_run_at=m.last_run_at, created_at=m.created_at,
                           created_by=m.created_by, runs=[_run_view(r) for r in runs or []])

    def _get(self, s: Session, name: str) -> Monitor:
        m = s.execute(select(Monitor).where(Monitor.name == name)).scalar_one_or_none()
        if m is None:
            raise NotFound(f"Monitor {name!r} not found. List monitors with: slipway monitors list",
                           {"field": "name", "value": name})
        return m

    def create(self, name: str, endpoint: str, baseline: str | None = None, every: str = "5m", window: str = "1h",
               thresholds: list[str] | dict[str, float] | None = None, user: str = "") -> MonitorView:
        check_name(name, "monitor")
        check_name(endpoint, "endpoint")
        every_s = _duration(every, "every", MIN_EVERY, MAX_EVERY)
        window_s = _duration(window, "window", MIN_WINDOW, MAX_WINDOW)
        limits = parse_thresholds(thresholds)
        with self.db.session() as s:
            ep = s.execute(select(Endpoint).where(Endpoint.name == endpoint)).scalar_one_or_none()
            if ep is None:
                raise NotFound(f"Endpoint {endpoint!r} not found. List endpoints with: slipway endpoints list",
                               {"field": "endpoint", "value": endpoint})
            if ep.status == "Deleting":
                raise Conflict(f"Endpoint {endpoint!r} is being deleted; a monitor of it would be deleted with it.",
                               {"field": "endpoint", "value": endpoint})
            spec = ep.desired or {}
        if baseline is None:
            models = [v.get("model") for v in (spec.get("variants") or []) if v.get("model")]
            if not models:
                raise InvalidArgument(f"Endpoint {endpoint!r} serves no model yet. Give --baseline MODEL:N.",
                                      {"field": "baseline", "value": None})
            baseline = models[0]
        resolved, stats, _ = self.baselines.documents(baseline)  # 400 naming how to make one when there is none
        check_threshold_features(limits, stats, resolved)
        now = self.clock()

        def _do(s: Session) -> MonitorView:
            m = Monitor(name=name, endpoint=endpoint, baseline=resolved, every_seconds=every_s,
                        window_seconds=window_s, thresholds=limits, next_run_at=now + dt.timedelta(seconds=every_s),
                        created_at=now, created_by=user)
            s.add(m)
            s.flush()
            return self._view(m)

        try:
            return self.db.run(_do)
        except IntegrityError:
            raise Conflict(f"Monitor {name!r} already exists. Delete it first: slipway monitors delete {name}",
                           {"field": "name", "value": name}) from None

    def list(self) -> list[MonitorView]:
        with self.db.session() as s:
            return [self._view(m) for m in s.execute(select(Monitor).order_by(Monitor.name)).scalars()]

    def get(self, name: str, runs: int = 20) -> MonitorView:
        check_name(name, "monitor")
        with self.db.session() as s:
            m = self._get(s, name)
            rows = s.execute(select(MonitorRun).where(MonitorRun.monitor == name)
                             .order_by(MonitorRun.started_at.desc(), MonitorRun.id.desc()).limit(runs)).scalars().all()
            return self._view(m, list(rows))

    def delete(self, name: str) -> MonitorView:
        check_name(name, "monitor")

        def _do(s: Session) -> MonitorView:
            m = self._get(s, name)
            view = self._view(m)
            s.execute(delete(MonitorRun).where(MonitorRun.monitor == name))
            s.delete(m)
            return view

        return self.db.run(_do)

    def exists(self, name: str) -> bool:
        with self.db.session() as s:
            return bool(s.scalar(select(func.count(Monitor.id)).where(Monitor.name == name)))

    def features(self, name: str) -> list[str]:
        """The feature names of a monitor's baseline (empty when it cannot be read)."""
        with self.db.session() as s:
            baseline = s.execute(select(Monitor.baseline).where(Monitor.name == name)).scalar_one_or_none()
        if baseline is None:
            return []
        try:
            _, stats, _ = self.baselines.documents(baseline)
        except (InvalidArgument, NotFound):
            return []
        return [f["name"] for f in stats.get("features", [])]

    def gone(self, name: str) -> str | None:
        """Why a monitor's metrics can have no new datapoints (it or its endpoint is gone), or None."""
        with self.db.session() as s:
            endpoint = s.execute(select(Monitor.endpoint).where(Monitor.name == name)).scalar_one_or_none()
        if endpoint is None:
            return (f"Monitor {name!r} no longer exists (deleted, or deleted with its endpoint), so its metrics get no "
                    "new datapoints.")
        return None

    def endpoint_of(self, name: str) -> str | None:
        with self.db.session() as s:
            return s.execute(select(Monitor.endpoint).where(Monitor.name == name)).scalar_one_or_none()

    # -- running -----------------------------------------------------------------------------------------

    def due(self, now: dt.datetime | None = None) -> list[str]:
        now = now or self.clock()
        with self.db.session() as s:
            return list(s.execute(select(Monitor.name).where(Monitor.next_run_at <= now)
                                  .order_by(Monitor.next_run_at)).scalars())

    def run(self, name: str, now: dt.datetime | None = None) -> MonitorRunView:
        """Compare the window's captured inputs with the baseline now; record and return the run."""
        check_name(name, "monitor")
        now = now or self.clock()
        with self.db.session() as s:
            m = self._get(s, name)
            endpoint, baseline, window, every = m.endpoint, m.baseline, m.window_seconds, m.every_seconds
            limits = dict(m.thresholds or {})
        status, message, rows, result = "Completed", "", 0, {}
        try:
            _, stats, cons = self.baselines.documents(baseline)
            features = [f["name"] for f in stats.get("features", [])]
            start = now - dt.timedelta(seconds=window)
            records = self.capture.read(endpoint, since=start.isoformat(), until=now.isoformat(),
                                        limit=MAX_RECORDS).records
            instances, unreadable = rows_from_records(records, features)
            rows = len(instances)
            if not instances:
                status = "NoData"
                message = (f"No captured requests of {endpoint} in the window ({window}s)"
                           + (f"; {unreadable} could not be read" if unreadable else "")
                           + ". Is capture on? slipway endpoints update ENDPOINT --capture 100")
            else:
                result = compare(stats, cons, instances, limits)
                drifted = result["drifted_features"]
                message = (f"{len(drifted)} of {len(features)} features drifted: {', '.join(drifted)}" if drifted
                           else f"no drift in {len(features)} features") + f" ({rows} rows)" + (
                    f"; {unreadable} requests could not be read" if unreadable else "")
        except Exception as exc:  # recorded as a Failed run, visible in `monitors show`
            status, message = "Failed", getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"

        def _do(s: Session) -> MonitorRunView:
            mon = self._get(s, name)
            run = MonitorRun(monitor=name, started_at=now, status=status, message=message[:4000], rows=rows,
                             drifted=result.get("drifted_features", []), results=result)
            s.add(run)
            mon.last_run_at = now
            mon.next_run_at = now + dt.timedelta(seconds=every)
            s.flush()
            old = s.execute(select(MonitorRun.id).where(MonitorRun.monitor == name)
                            .order_by(MonitorRun.id.desc()).offset(KEEP_RUNS)).scalars().all()
            if old:
                s.execute(delete(MonitorRun).where(MonitorRun.id.in_(old)))
            return _run_view(run)

        return self.db.run(_do)

    def run_due(self, now: dt.datetime | None = None) -> int:
        now = now or self.clock()
        names = self.due(now)
        for name in names:
            try:
                self.run(name, now)
            except NotFound:  # deleted meanwhile
                continue
        return len(names)

    # -- metrics ------------------------------------------------------------------------------------------

    def samples(self, name: str, series: str, start: dt.datetime, end: dt.datetime) -> list[tuple[float, float]]:
        """(unix time, value) of a monitor metric between start and end: ``drifted_features`` or
        ``<feature>/<statistic>``; runs without data give no sample."""
        with self.db.session() as s:
            runs = s.execute(select(MonitorRun).where(MonitorRun.monitor == name, MonitorRun.status == "Completed",
                                                      MonitorRun.started_at >= start, MonitorRun.started_at <= end)
                             .order_by(MonitorRun.started_at)).scalars().all()
            out: list[tuple[float, float]] = []
            for r in runs:
                t = r.started_at.timestamp()
                if series == "drifted_features":
                    out.append((t, float(len(r.drifted or []))))
                    continue
                feature, _, stat = series.rpartition("/")
                for f in (r.results or {}).get("features", []):
                    if f.get("name") == feature and stat in (f.get("statistics") or {}):
                        out.append((t, float(f["statistics"][stat])))
        return out
