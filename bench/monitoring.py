"""Monitoring's cost on the invocation hot path (run by hand, prints a table): `python bench/monitoring.py`.

What the gateway adds per request: ``InvocationMetrics.record`` (count and time) and
``CaptureBuffer.offer`` (sample, rate cap, bounded queue), measured in a tight loop, and the writer
side (serialising a SageMaker capture record) that the capture controller pays off the event loop.
Compare the per-request figures with the server's CPU per request in ``bench/serving.py``'s gateway
row; ``bench/serving.py`` with and without the change gives the end-to-end figure.

``python bench/monitoring.py --gateway [--duration 10] [--rounds 3]`` measures the end-to-end cost through the
gateway in one run, side by side (the issue's goal: capture and metrics together under 5 % of gateway
throughput for M1 at 64 connections, and never an error): two servers, each serving M1 (LogisticRegression on
the breast cancer arrays); in one, counting and capture are patched out (``InvocationMetrics.record`` and
``CaptureBuffer.offer`` made no-ops before ``slipway up`` runs), the other is the stock server with an endpoint
at the default capture (100 %, at most 50 per second) and one with capture off (metrics only). The three
targets are loaded in turn, round after round, each round starting with the next one (so a change of the
machine's load hits all three alike), with
``bench/serving.py``'s load generator (wrk when installed); the table gives the median req/s and CPU per
request (server and replica) and the cost against the unmonitored server. On a busy machine the CPU per
request is the steadier figure: the req/s of one target vary by tens of percent from round to round.

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


UNMONITORED = """
import runpy, sys
from slipway.monitoring import InvocationMetrics
from slipway.monitoring.capture import CaptureBuffer
InvocationMetrics.record = lambda self, *a, **k: None  # no counting
CaptureBuffer.offer = lambda self, *a, **k: None  # no capture
sys.argv = ["slipway", *sys.argv[1:]]
runpy.run_module("slipway.cli.main", run_name="__main__")
"""


def gateway(duration: float, rounds: int, conns: int) -> None:
    """M1 through the gateway at ``conns`` connections: unmonitored vs metrics only vs metrics + capture."""
    import json
    import shutil
    import statistics
    import subprocess
    import tempfile
    import time

    import httpx

    from bench import serving
    from slipway.artifacts.flavors.sklearn import save_sklearn_artifact
    from slipway.client import Client

    work = Path(tempfile.mkdtemp(prefix="slipway-bench-monitoring-"))
    procs: list[subprocess.Popen[bytes]] = []
    clients: list[Client] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    use_wrk = shutil.which("wrk") is not None
    try:
        est, row = serving.train(work)["M1-logreg"]
        save_sklearn_artifact(est, work / "m1", samples=None)
        body = json.dumps({"instances": [row]}).encode()

        def up(label: str, patched: bool) -> tuple[str, dict[str, str], Client, int]:
            home = work / label
            cmd = [sys.executable, "-c", UNMONITORED] if patched else [sys.executable, "-m", "slipway.cli.main"]
            proc = subprocess.Popen([*cmd, "--home", str(home), "up", "--port", "0", "--log-level", "warning"],
                                    env=env, stdout=subprocess.DEVNULL, stderr=open(work / f"{label}.log", "wb"))
            procs.append(proc)
            deadline = time.monotonic() + 60
            while not (home / "server.json").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            url = json.loads((home / "server.json").read_text())["url"]
            serving.wait_http(url + "/healthz")
            key = json.loads((home / "credentials").read_text())["profiles"]["local"]["api_key"]
            client = Client(url=url, home=home)
            clients.append(client)
            client.models.import_(work / "m1", "m1")
            return url, {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}, client, proc.pid

        off_url, off_headers, off_client, off_pid = up("unmonitored", True)
        on_url, on_headers, on_client, on_pid = up("stock", False)
        targets = []
        for label, url, headers, client, pid, endpoint, capture in [
            ("unmonitored (patched out)", off_url, off_headers, off_client, off_pid, "m1", None),
            ("metrics only (capture 0 %)", on_url, on_headers, on_client, on_pid, "m1-metrics", 0.0),
            ("metrics + capture (default: 100 %, ≤ 50/s)", on_url, on_headers, on_client, on_pid, "m1", None),
        ]:
            client.endpoints.deploy(endpoint, "m1:1")
            if capture is not None:
                client.endpoints.set_capture(endpoint, capture)
            replica = client.endpoints.get(endpoint).replicas[0]
            target = f"{url}/endpoints/{endpoint}/invocations"
            for _ in range(20):  # warm up
                assert httpx.post(target, content=body, headers=headers).status_code == 200
            targets.append((label, target, headers, [pid, replica.pid]))
        # The same background work in both servers (their controllers tend two endpoints each): an idle second
        # endpoint in the unmonitored one, as the stock one has the idle twin of the target being loaded.
        off_client.endpoints.deploy("m1-idle", "m1:1")

        results: dict[str, list[dict[str, float]]] = {t[0]: [] for t in targets}
        loads = []
        for r in range(rounds):  # each round starts with the next target, so none is always loaded last
            for label, target, headers, pids in targets[r % len(targets):] + targets[:r % len(targets)]:
                cpu0 = serving.cpu_seconds(pids)
                res = serving.run_wrk(target, body, conns, duration, work, headers) if use_wrk else \
                    serving.run_httpx(target, body, conns, duration, headers)
                res["cpu_ms"] = (serving.cpu_seconds(pids) - cpu0) / max(1, res["total"]) * 1000
                results[label].append(res)
                loads.append(os.getloadavg()[0])
        load = os.getloadavg()
        print(f"\nMonitoring's cost through the gateway: M1, {conns} connections, {rounds} rounds of {duration:g} s "
              f"per target, {'wrk' if use_wrk else 'httpx asyncio client'}; {os.cpu_count()} CPUs, load average "
              f"{min(loads):.1f}-{max(loads):.1f} during the cells ({load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
              "at the end)\n")
        print("| target | req/s (median) | req/s per round | p99 ms (median) | errors | CPU ms/req (median) "
              "| throughput cost | CPU cost |")
        print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
        base_rps = base_cpu = 0.0
        for label, runs in results.items():
            rps = statistics.median(r["rps"] for r in runs)
            cpu = statistics.median(r["cpu_ms"] for r in runs)
            p99 = statistics.median(r["p99"] for r in runs)
            errors = sum(int(r["errors"]) + int(r["timeouts"]) for r in runs)
            if not base_rps:
                base_rps, base_cpu = rps, cpu
                cost = cpu_cost = "—"
            else:
                cost = f"{(1 - rps / base_rps) * 100:+.1f} %"
                cpu_cost = f"{(cpu / base_cpu - 1) * 100:+.1f} %"
            per_round = " / ".join(f"{r['rps']:.0f}" for r in runs)
            print(f"| {label} | {rps:.0f} | {per_round} | {p99:.1f} | {errors} | "
                  f"{cpu:.3f} | {cost} | {cpu_cost} |")
        print("\nThroughput cost: 1 - req/s / unmonitored req/s (positive: slower); CPU cost: CPU per request "
              "(server + replica) against the unmonitored server's. Goal: under 5 %, no errors.")
    finally:
        for c in clients:
            c.close()
        serving.stop_processes(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--drift", action="store_true", help="From the first drifted request to ALARM, end to end.")
    ap.add_argument("--gateway", action="store_true", help="Throughput through the gateway: unmonitored vs "
                    "metrics only vs metrics + capture, side by side.")
    ap.add_argument("--duration", type=float, default=10.0, help="Seconds per cell (--gateway).")
    ap.add_argument("--rounds", type=int, default=3, help="Rounds over the three targets (--gateway).")
    ap.add_argument("--connections", type=int, default=64, help="Connections (--gateway).")
    args = ap.parse_args()
    if args.drift:
        drift_to_alarm()
    elif args.gateway:
        gateway(args.duration, args.rounds, args.connections)
    else:
        main()
