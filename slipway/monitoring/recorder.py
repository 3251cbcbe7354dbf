"""Counts and times every invocation in memory, per endpoint, variant and minute.

``record`` runs on the server's event loop for every request, so it does the least that can be
done: one ``bisect`` into fixed latency buckets and a handful of list increments under an
uncontended lock (the lock only meets the flushing controller thread, once per interval). Two views
are kept: per-minute cells, handed to the metrics service by ``drain`` and written to the database
as rollups, and cumulative totals since the process started, which Prometheus scrapes (its
counters must never go down). Labels are bounded: the gateway records only endpoints it routes,
and variants come from the endpoint's own spec, never from the caller.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["BUCKETS_MS", "Cell", "InvocationMetrics", "percentile", "status_class"]

# Upper bounds in milliseconds (a last, open bucket follows): about 25 % apart from 0.25 ms to 60 s,
# so an interpolated percentile is within about 12 % of the true value.
BUCKETS_MS: tuple[float, ...] = tuple(round(0.25 * 1.25 ** i, 3) for i in range(56))
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


def status_class(status: int) -> int:
    """Index into CLASSES (anything out of range counts as 5xx)."""
    c = status // 100 - 1
    return c if 0 <= c < 5 else 4


class Cell:
    """Counts of one endpoint and variant over some time: per status class, latency buckets, sum."""

    __slots__ = ("classes", "buckets", "latency_sum_ms", "latency_max_ms")

    def __init__(self) -> None:
        self.classes = [0, 0, 0, 0, 0]
        self.buckets = [0] * (len(BUCKETS_MS) + 1)
        self.latency_sum_ms = 0.0
        self.latency_max_ms = 0.0

    @property
    def requests(self) -> int:
        return sum(self.classes)

    def add(self, cls: int, bucket: int, ms: float) -> None:
        self.classes[cls] += 1
        self.buckets[bucket] += 1
        self.latency_sum_ms += ms
        if ms > self.latency_max_ms:
            self.latency_max_ms = ms


class InvocationMetrics:
    """In-memory aggregates of this server process; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._minutes: dict[tuple[str, str, int], Cell] = {}
        self._totals: dict[tuple[str, str], Cell] = {}

    def record(self, endpoint: str, variant: str, status: int, seconds: float) -> None:
        ms = seconds * 1000.0
        bucket = bisect_left(BUCKETS_MS, ms)
        cls = status_class(status)
        minute = int(time.time()) // 60
        with self._lock:
            cell = self._minutes.get((endpoint, variant, minute))
            if cell is None:
                cell = self._minutes[(endpoint, variant, minute)] = Cell()
            cell.add(cls, bucket, ms)
            total = self._totals.get((endpoint, variant))
            if total is None:
                total = self._totals[(endpoint, variant)] = Cell()
            total.add(cls, bucket, ms)

    def drain(self) -> dict[tuple[str, str, int], Cell]:
        """Take the per-minute cells recorded since the last drain (the caller stores or restores them)."""
        with self._lock:
            pending, self._minutes = self._minutes, {}
        return pending

    def restore(self, pending: dict[tuple[str, str, int], Cell]) -> None:
        """Put back cells a failed write could not store; they are merged into any recorded meanwhile."""
        with self._lock:
            for key, cell in pending.items():
                mine = self._minutes.get(key)
                if mine is None:
                    self._minutes[key] = cell
                    continue
                mine.classes = [a + b for a, b in zip(mine.classes, cell.classes, strict=True)]
                mine.buckets = [a + b for a, b in zip(mine.buckets, cell.buckets, strict=True)]
                mine.latency_sum_ms += cell.latency_sum_ms
                mine.latency_max_ms = max(mine.latency_max_ms, cell.latency_max_ms)

    def totals(self) -> dict[tuple[str, str], Cell]:
        """Copies of the cumulative cells since this process started (for Prometheus)."""
        with self._lock:
            out = {}
            for key, cell in self._totals.items():
                copy = Cell()
                copy.classes = list(cell.classes)
                copy.buckets = list(cell.buckets)
                copy.latency_sum_ms = cell.latency_sum_ms
                copy.latency_max_ms = cell.latency_max_ms
                out[key] = copy
            return out


def percentile(buckets: Sequence[int], q: float) -> float | None:
    """The q-quantile (0..1) in ms from bucket counts, interpolated linearly inside its bucket."""
    n = sum(buckets)
    if n == 0:
        return None
    rank = q * n
    seen = 0
    for i, count in enumerate(buckets):
        if count and seen + count >= rank:
            lo = BUCKETS_MS[i - 1] if i > 0 else 0.0
            hi = BUCKETS_MS[i] if i < len(BUCKETS_MS) else BUCKETS_MS[-1]
            return lo + (hi - lo) * max(0.0, min(1.0, (rank - seen) / count))
        seen += count
    return BUCKETS_MS[-1]
