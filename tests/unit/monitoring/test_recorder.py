"""In-memory invocation metrics: counts per status class, percentiles from buckets, drain and restore."""

from __future__ import annotations

import numpy as np

from slipway.monitoring import BUCKETS_MS, InvocationMetrics, percentile


def test_counts_per_status_class_and_percentiles_close_to_the_truth() -> None:
    m = InvocationMetrics()
    latencies = np.random.default_rng(0).lognormal(mean=np.log(5.0), sigma=0.6, size=5000)  # ms
    for ms in latencies:
        m.record("ep", "a", 200, ms / 1000.0)
    m.record("ep", "a", 404, 0.001)
    m.record("ep", "a", 413, 0.0)
    m.record("ep", "b", 503, 0.002)
    cells = m.drain()
    [(a_key, a), (b_key, b)] = sorted(cells.items())
    assert (a_key[:2], b_key[:2]) == (("ep", "a"), ("ep", "b"))
    assert a.requests == 5002 and a.classes == [0, 5000, 0, 2, 0]
    assert b.classes == [0, 0, 0, 0, 1]
    for q in (0.5, 0.95, 0.99):
        want = float(np.quantile(latencies, q))
        got = percentile(a.buckets, q)
        assert got is not None and abs(got - want) / want < 0.13, (q, got, want)
    assert m.drain() == {}  # drained once
    assert m.totals()[("ep", "a")].requests == 5002  # the cumulative view (Prometheus) keeps counting


def test_a_failed_write_restores_the_cells_merged_with_new_ones() -> None:
    m = InvocationMetrics()
    m.record("ep", "a", 200, 0.003)
    pending = m.drain()
    m.record("ep", "a", 500, 0.010)
    m.restore(pending)
    [cell] = m.drain().values()
    assert cell.classes == [0, 1, 0, 0, 1]
    assert abs(cell.latency_sum_ms - 13.0) < 1e-9 and cell.latency_max_ms == 10.0


def test_percentile_of_nothing_is_none_and_slow_requests_land_in_the_open_bucket() -> None:
    assert percentile([0] * (len(BUCKETS_MS) + 1), 0.5) is None
    m = InvocationMetrics()
    m.record("ep", "a", 200, 120.0)
    [cell] = m.drain().values()
    assert cell.buckets[-1] == 1 and percentile(cell.buckets, 0.99) == BUCKETS_MS[-1]
