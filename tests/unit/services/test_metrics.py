"""Endpoint metrics in the metadata database: per-minute rollups, time ranges, retention, bad input."""

from __future__ import annotations

import time

import pytest

from slipway.db.models import EndpointMetric
from slipway.errors import InvalidArgument, NotFound
from slipway.services import Platform


def _rows(platform: Platform) -> list[EndpointMetric]:
    with platform.db.session() as s:
        rows = s.query(EndpointMetric).order_by(EndpointMetric.minute).all()
        s.expunge_all()
    return rows


def test_flushes_add_up_into_one_row_per_minute_and_variant(platform: Platform) -> None:
    rec = platform.invocation_metrics
    for _ in range(3):
        rec.record("ep", "a", 200, 0.004)
    assert platform.metrics.flush() == 1
    rec.record("ep", "a", 500, 0.008)
    rec.record("ep", "b", 200, 0.002)
    assert platform.metrics.flush() == 2
    rows = _rows(platform)
    a = [r for r in rows if r.variant == "a"]
    assert len(a) <= 2 and len(rows) - len(a) == 1  # two rows for a only when the minute turned in between
    assert (sum(r.requests for r in a), sum(r.status_2xx for r in a), sum(r.status_5xx for r in a)) == (4, 3, 1)
    assert round(sum(r.latency_sum_ms for r in a), 6) == 20.0 and max(r.latency_max_ms for r in a) == 8.0
    assert sum(sum(r.buckets) for r in a) == 4
    assert platform.metrics.flush() == 0  # nothing new


def test_query_returns_minutes_in_range_with_percentiles(platform: Platform) -> None:
    rec = platform.invocation_metrics
    for ms in range(1, 101):
        rec.record("ep", "a", 200, ms / 1000.0)
    rec.record("ep", "a", 404, 0.001)
    old = int(time.time()) // 60 - 180  # three hours ago
    with platform.db.session() as s:
        s.add(EndpointMetric(endpoint="ep", variant="a", minute=old, requests=60, status_2xx=60, status_4xx=0,
                             status_5xx=0, latency_sum_ms=60.0, latency_max_ms=1.0, buckets=[0] * 57))
    got = platform.metrics.query("ep", since="1h")  # flushes what is in memory first
    [p] = got.points
    assert (p.variant, p.requests, p.status_2xx, p.status_4xx, p.status_5xx) == ("a", 101, 100, 1, 0)
    assert p.requests_per_second == round(101 / 60, 3)
    assert 45 <= p.p50_ms <= 56 and 88 <= p.p95_ms <= 100 and 95 <= p.p99_ms <= 100
    assert p.max_ms == 100.0
    assert len(platform.metrics.query("ep", since="4h").points) == 2
    assert len(platform.metrics.query("ep", since="4h", until="2h").points) == 1


def test_retention_deletes_old_rollups(platform: Platform) -> None:
    now = time.time()
    keep = int(now) // 60
    gone = int(now - (platform.settings.metrics_retention_days + 1) * 86400) // 60
    with platform.db.session() as s:
        for minute in (keep, gone):
            s.add(EndpointMetric(endpoint="ep", variant="a", minute=minute, requests=1, status_2xx=1, status_4xx=0,
                                 status_5xx=0, latency_sum_ms=1.0, latency_max_ms=1.0, buckets=[0] * 57))
    assert platform.metrics.purge(now) == 1
    assert [r.minute for r in _rows(platform)] == [keep]


@pytest.mark.parametrize("field,kw", [("since", {"since": "yesterday-ish"}), ("until", {"until": "soon"})])
def test_bad_times_name_the_field(platform: Platform, field: str, kw: dict[str, str]) -> None:
    with pytest.raises(InvalidArgument, match=f"Field '{field}' has value") as e:
        platform.metrics.query("ep", **kw)
    assert e.value.status_code == 400 and e.value.details["field"] == field


def test_unknown_endpoint_is_not_found(platform: Platform) -> None:
    with pytest.raises(NotFound, match="slipway endpoints list"):
        platform.metrics.query("nope", since="1h")


def test_gauges_read_from_the_database(platform: Platform) -> None:
    g = platform.metrics.gauges()
    assert g["jobs"] == {} and g["job_queue"] == {(): 0.0} and g["replicas"] == {}
