"""Monitoring's cost on the invocation hot path (run by hand, prints a table): `python bench/monitoring.py`.

What the gateway adds per request: ``InvocationMetrics.record`` (count and time) and
``CaptureBuffer.offer`` (sample, rate cap, bounded queue), measured in a tight loop, and the writer
side (serialising a SageMaker capture record) that the capture controller pays off the event loop.
Compare the per-request figures with the server's CPU per request in ``bench/serving.py``'s gateway
row; ``bench/serving.py`` with and without the change gives the end-to-end figure.
"""

from __future__ import annotations

import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slipway.monitoring import InvocationMetrics  # noqa: E402
from slipway.monitoring.capture import CaptureBuffer, to_record  # noqa: E402

BODY = b'{"instances": [[17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871]]}'
OUT = b'{"predictions":[{"label":"malignant","confidence":0.99,"probabilities":{"benign":0.01,"malignant":0.99}}]}'


def per_call(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    return min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6


def main() -> None:
    metrics = InvocationMetrics()
    capped = CaptureBuffer(max_queue=10_000, max_per_second=50)
    capped.offer("m1", "primary", "rid", "application/json", BODY, "application/json", OUT)  # fill this second
    for _ in range(60):
        capped.offer("m1", "primary", "rid", "application/json", BODY, "application/json", OUT)
    open_ = CaptureBuffer(max_queue=10**8, max_per_second=10**9)
    off = CaptureBuffer(max_queue=10, max_per_second=10)
    off.percent = {"m1": 0.0}
    rows = [
        ("record (count + latency bucket)", per_call(lambda: metrics.record("m1", "primary", 200, 0.0012), 200_000)),
        ("offer, capture off (0 %)", per_call(
            lambda: off.offer("m1", "primary", "rid", "application/json", BODY, "application/json", OUT), 200_000)),
        ("offer, over the per-second cap", per_call(
            lambda: capped.offer("m1", "primary", "rid", "application/json", BODY, "application/json", OUT), 200_000)),
        ("offer, queued", per_call(
            lambda: open_.offer("m1", "primary", "rid", "application/json", BODY, "application/json", OUT), 50_000)),
    ]
    buf = CaptureBuffer(1, 1)
    buf.offer("m1", "primary", "rid", "application/json", BODY, "application/json", OUT)
    [item] = buf.drain()
    rows.append(("writer: one SageMaker record (controller thread)", per_call(lambda: to_record(item, 65536), 20_000)))
    load = os.getloadavg()
    print(f"Monitoring hot-path cost: {os.cpu_count()} CPUs, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}\n")
    print("| step | µs per call |\n| --- | ---: |")
    for name, us in rows:
        print(f"| {name} | {us:.2f} |")


if __name__ == "__main__":
    main()
