"""Monitoring's cost on the invocation hot path (run by hand, prints a table): `python bench/monitoring.py`.

What the gateway adds per request: ``InvocationMetrics.record`` (count and time) and
``CaptureBuffer.offer`` (sample, rate cap, bounded queue), measured in a tight loop, and the writer
side (serialising a SageMaker capture record) that the capture controller pays off the event loop.
Compare the per-request figures with the server's CPU per request in ``bench/serving.py``'s gateway
row; ``bench/serving.py`` with and without the change gives the end-to-end figure.

``python bench/monitoring.py --drift`` measures the time from the first drifted request to the alarm in
ALARM with a one-minute monitor, end to end through the real controllers (capture writer, monitor
scheduler, alarm evaluator) on a temporary platform, and the parts of it (one monitor run, one alarm
evaluation). It takes one to two minutes: the monitor's next run is up to a minute away.
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


def drift_to_alarm() -> None:
    import datetime as dt
    import tempfile
    import time

    from slipway.controllers import AlarmEvaluator, CaptureWriter, ControllerManager, MonitorScheduler
    from slipway.schemas import VariantSpec
    from slipway.services import Platform
    from slipway.settings import Settings
    from tests.support.models import cancer_data, write_cancer_artifact

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        p = Platform(Settings.load(env={}, home=home / "home"))
        p.migrate()
        X, y = cancer_data()
        X.assign(diagnosis=y).to_csv(home / "cancer.csv", index=False)
        p.datasets.push("cancer", home / "cancer.csv", filename="cancer.csv", label="diagnosis")
        p.registry.register("cancer", write_cancer_artifact(home / "m1"), onnx=False)
        p.endpoints.create("cancer-ep", [VariantSpec(name="primary", model="cancer:1")])
        t = time.perf_counter()
        p.baselines.compute("cancer:1", "cancer:1")
        baseline_s = time.perf_counter() - t

        def send(frame) -> None:  # type: ignore[no-untyped-def]
            rows = frame.to_numpy().tolist()
            for i in range(0, len(rows), 40):  # what the gateway offers per answered request
                p.capture_buffer.offer("cancer-ep", "primary", f"r{i}", "application/json",
                                       orjson.dumps({"instances": rows[i:i + 40]}), "application/json", b"{}")

        import orjson

        send(X)
        p.monitors.create("drift", "cancer-ep", every="1m", window="1h")
        p.alarms.create("drifting", "monitor/drift/drifted_features", 0, period="1m", statistic="max",
                        missing="notBreaching")
        t = time.perf_counter()
        run = p.monitors.run("drift")
        run_s = time.perf_counter() - t
        t = time.perf_counter()
        p.alarms.evaluate()
        eval_s = time.perf_counter() - t
        assert run.drifted_features == [] and p.alarms.get("drifting").state == "OK", run
        manager = ControllerManager([CaptureWriter(p), MonitorScheduler(p), AlarmEvaluator(p)])
        manager.start()
        try:
            shifted = X.copy()
            shifted["mean_radius"] *= 1.6
            shifted["worst_texture"] += 15
            first = time.perf_counter()
            next_run = p.monitors.get("drift").next_run_at
            wait_for_run = max(0.0, (next_run - dt.datetime.now(dt.UTC)).total_seconds())
            send(shifted)
            while p.alarms.get("drifting").state != "ALARM":
                if time.perf_counter() - first > 180:
                    raise SystemExit("no ALARM after 180 s")
                time.sleep(0.1)
            total = time.perf_counter() - first
        finally:
            manager.stop()
            p.close()
    load = os.getloadavg()
    print(f"Drift to ALARM, one-minute monitor: {os.cpu_count()} CPUs, load average {load[0]:.2f}\n")
    print("| step | seconds |\n| --- | ---: |")
    print(f"| baseline of 569 rows x 30 features (once, at registration) | {baseline_s:.3f} |")
    print(f"| one monitor run (569 captured rows in 15 requests, 30 features) | {run_s:.3f} |")
    print(f"| one alarm evaluation | {eval_s:.3f} |")
    print(f"| first drifted request -> ALARM (end to end) | {total:.1f} |")
    print(f"| of which waiting for the monitor's next run (schedule) | {wait_for_run:.1f} |")
    print("\nWorst case with a one-minute monitor: 60 s schedule + 5 s scheduler pass + one run + 2 s alarm pass "
          f"+ one evaluation = {60 + 5 + run_s + 2 + eval_s:.1f} s (goal: under 120 s; SageMaker: at least an hour).")


if __name__ == "__main__":
    if "--drift" in sys.argv:
        drift_to_alarm()
    else:
        main()
