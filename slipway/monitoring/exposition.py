"""``GET /metrics``: the platform in Prometheus text format, built from this server's own aggregates.

A custom collector reads the invocation totals of ``InvocationMetrics`` and the gauges the metrics
service reads from the database at scrape time; nothing uses prometheus-client's global registry or
its multiprocess mode (the server is one process; replicas report through the gateway). Label values
are resource names, variant names, statuses and status classes only: the series count is bounded by
what exists, never by what callers send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from slipway.monitoring.capture import CaptureBuffer
from slipway.monitoring.recorder import BUCKETS_MS, CLASSES, Cell, InvocationMetrics

__all__ = ["CONTENT_TYPE", "PlatformCollector", "exposition"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Gauges = dict[str, dict[tuple[str, ...], float]]

_GAUGES: dict[str, tuple[str, list[str]]] = {
    "jobs": ("Training jobs by status.", ["status"]),
    "tuning_jobs": ("Tuning jobs by status.", ["status"]),
    "job_queue": ("Training jobs waiting to start (Pending).", []),
    "endpoints": ("Endpoints by status.", ["status"]),
    "replicas": ("Endpoint replicas by endpoint, variant and status.", ["endpoint", "variant", "status"]),
    "alarm_state": ("1 for each alarm's state (OK, ALARM, INSUFFICIENT_DATA), 0 for the others.", ["alarm", "state"]),
    "monitor_drifted_features": ("Features that drifted in each monitor's newest completed run.", ["monitor"]),
}


class PlatformCollector(Collector):
    def __init__(self, recorder: InvocationMetrics, capture: CaptureBuffer, gauges: Callable[[], Gauges],
                 uptime: Callable[[], float]) -> None:
        self.recorder = recorder
        self.capture = capture
        self.gauges = gauges
        self.uptime = uptime

    def collect(self) -> Iterator[Metric]:
        totals = self.recorder.totals()
        requests = CounterMetricFamily("slipway_endpoint_invocations", "Endpoint invocations answered by this server.",
                                       labels=["endpoint", "variant", "status_class"])
        latency = HistogramMetricFamily("slipway_endpoint_latency_seconds",
                                        "Time from the gateway receiving an invocation to its answer.",
                                        labels=["endpoint", "variant"])
        for (endpoint, variant), cell in sorted(totals.items()):
            for i, name in enumerate(CLASSES):
                if cell.classes[i]:
                    requests.add_metric([endpoint, variant, name], cell.classes[i])
            latency.add_metric([endpoint, variant], _buckets(cell), cell.latency_sum_ms / 1000.0)
        yield requests
        yield latency
        captured = CounterMetricFamily("slipway_capture_records", "Request capture by outcome: queued, written, "
                                       "truncated, over_rate_cap, queue_full (dropped), write_failed.",
                                       labels=["endpoint", "outcome"])
        for (endpoint, outcome), n in sorted(dict(self.capture.counts).items()):
            captured.add_metric([endpoint, outcome], n)
        yield captured
        queue = GaugeMetricFamily("slipway_capture_queue", "Captured requests waiting to be written.")
        queue.add_metric([], len(self.capture))
        yield queue
        values = self.gauges()
        for name, (doc, labels) in _GAUGES.items():
            g = GaugeMetricFamily(f"slipway_{name}", doc, labels=labels)
            for key, value in sorted(values.get(name, {}).items()):
                g.add_metric(list(key), value)
            yield g
        up = GaugeMetricFamily("slipway_uptime_seconds", "Seconds since this server started.")
        up.add_metric([], self.uptime())
        yield up


def _buckets(cell: Cell) -> list[tuple[str, float]]:
    """Cumulative buckets, ``le`` in seconds, ending with +Inf."""
    out: list[tuple[str, float]] = []
    acc = 0
    for bound, count in zip(BUCKETS_MS, cell.buckets, strict=False):
        acc += count
        out.append((f"{bound / 1000.0:g}", float(acc)))
    out.append(("+Inf", float(acc + cell.buckets[-1])))
    return out


def exposition(collector: PlatformCollector) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
