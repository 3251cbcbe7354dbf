"""Autoscaling and scale to zero: a burst from zero replicas, and a step in load from 1 to 64 connections and back.

    .venv/bin/python bench/autoscaling.py [--burst 100] [--step-seconds 60] [--scale-in-after 30]
                                          [--model sleep|m1|m2] [--service-ms 50]

1. An endpoint with ``min_replicas 0`` is left to go to
   zero, then 100 requests arrive at once: it prints how many failed (the goal is 0), the replica's cold start
   (as the server measured it), and the time to the first answer (the goal: under cold start + 1 s).
2. The same endpoint under 1 connection, then 64, then 1 again (``--step-seconds`` each; closed loop, each
   connection sends its next request when the last one is answered): a timeline every 2 s of connections,
   requests/s, errors, replicas ready and desired, and the scaler's decisions; then how long the count took to
   follow the step up, the step down (set by ``--scale-in-after``), and the changes per minute at steady load.

The model (``--model``): by default ``sleep``, a model whose every call takes a fixed ``--service-ms`` (its
handler sleeps, one call at a time per replica, as a model that keeps its CPU busy would), so that the load
the autoscaler sees (requests in flight between the gateway and the replicas) is set by the connections and
not by how fast this machine's CPUs turn requests around: 64 connections keep 64 requests in flight. With
``m1``/``m2`` (a logistic regression, a 100-tree forest on the breast-cancer features) the model answers in
well under a millisecond; on a machine whose CPUs are busy elsewhere (or where the load generator itself is
the bottleneck) 64 connections then keep few requests at the replicas, and the count rightly stays low.

Figures are printed, never asserted (docs/benchmarks.md keeps them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchserver import start_server  # noqa: E402

SLEEP = """
import json, time

def model_fn(model_dir):
    with open(model_dir + "/service_ms.txt") as f:
        return float(f.read()) / 1000

def input_fn(body, content_type):
    return json.loads(body)["instances"]

def predict_fn(data, seconds):
    time.sleep(seconds)  # a fixed service time per call
    return [0.0 for _ in data]

def output_fn(prediction, accept):
    return {"predictions": prediction}
"""


def model_folder(work: Path, kind: str, service_ms: float = 50.0) -> tuple[Path, list[float]]:
    """M1 (logistic regression), M2 (a 100-tree random forest, whose calls keep a replica busy longer), or
    ``sleep``: a model.tar.gz whose handler takes ``service_ms`` per call."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from slipway.artifacts.flavors.sklearn import save_sklearn_artifact

    b: Any = load_breast_cancer()
    X = np.asarray(b.data, dtype=float)
    if kind == "sleep":
        from tests.support.models import custom_tar

        return custom_tar(work / "sleep.tar.gz", SLEEP, {"service_ms.txt": str(service_ms).encode()}), X[0].tolist()
    y = np.asarray([str(b.target_names[i]) for i in b.target])
    est = (LogisticRegression(max_iter=10000) if kind == "m1" else RandomForestClassifier(n_estimators=100,
                                                                                         random_state=0))
    folder = work / kind
    save_sklearn_artifact(est.fit(X, y), folder)
    return folder, X[0].tolist()


async def burst(url: str, headers: dict[str, str], body: bytes, n: int) -> tuple[list[int], float]:
    """``n`` requests at once; their statuses and the time from the start to the first answer."""
    start = time.monotonic()
    first: list[float] = []
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        async def one() -> int:
            try:
                r = await http.post(url, content=body, headers=headers)
            except httpx.HTTPError:
                return 0
            if r.status_code == 200 and not first:
                first.append(time.monotonic() - start)
            return r.status_code

        statuses = await asyncio.gather(*(one() for _ in range(n)))
    return list(statuses), first[0] if first else float("nan")


class Step:
    """A closed-loop load whose number of connections can be changed while it runs."""

    def __init__(self, url: str, headers: dict[str, str], body: bytes) -> None:
        self.url, self.headers, self.body = url, headers, body
        self.connections = 0
        self.done = 0
        self.errors = 0
        self.inflight = 0  # requests sent and not answered yet
        self.stop = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),), daemon=True)

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
        async with httpx.AsyncClient(timeout=120, limits=limits) as http:
            async def worker(i: int) -> None:
                while not self.stop:
                    if i >= self.connections:
                        await asyncio.sleep(0.05)
                        continue
                    self.inflight += 1
                    try:
                        r = await http.post(self.url, content=self.body, headers=self.headers)
                        ok = r.status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    finally:
                        self.inflight -= 1
                    self.done += 1
                    self.errors += 0 if ok else 1

            await asyncio.gather(*(worker(i) for i in range(64)))


def print_timeline(log: Path, start: float, end: float) -> None:
    """The server's steps of a wake-up from zero (its log, level info), in seconds from the burst's start: the
    gateway queues the first request and wakes the autoscaler, which decides; the endpoint's worker starts a
    replica (a step still in progress, e.g. the last replica stopping, delays it), which becomes ready and takes
    the queued requests. Lines up to ``end`` (the first answer), and the previous replicas' stop if it overlaps."""
    import datetime as dt

    wanted = ("waits for a replica", "scale out", "started in", "after its spawn", "drained and stopped", "waits for the step")
    for line in log.read_text(errors="replace").splitlines():
        try:
            when = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        if start - 1.0 <= when <= end and any(w in line for w in wanted):
            print(f"  {when - start:+6.2f} s  {line[24:].split(': ', 1)[-1][:110]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--burst", type=int, default=100)
    ap.add_argument("--step-seconds", type=float, default=60.0)
    ap.add_argument("--scale-in-after", type=float, default=30.0)
    ap.add_argument("--target-inflight", type=float, default=4.0)
    ap.add_argument("--model", choices=["sleep", "m1", "m2"], default="sleep")
    ap.add_argument("--service-ms", type=float, default=250.0, help="each call's time with --model sleep")
    ap.add_argument("--max-replicas", type=int, default=4)
    ap.add_argument("--bursts", type=int, default=1, help="bursts from zero, one after another")
    ap.add_argument("--burst-only", action="store_true", help="skip the load step")
    args = ap.parse_args()

    from slipway.client import Client

    work = Path(tempfile.mkdtemp(prefix="slipway-bench-autoscaling-"))
    log = work / "server.log"
    proc, url = start_server(work / "home", {"SLIPWAY_SANDBOX": "off"}, log=log)
    try:
        with Client(url=url, home=work / "home") as c:
            folder, row = model_folder(work, args.model, args.service_ms)
            c.models.import_(folder, args.model)
            ep = c.endpoints.deploy("auto", f"{args.model}:1", scaling={
                "min_replicas": 0, "max_replicas": args.max_replicas, "target_inflight": args.target_inflight,
                "scale_in_after": args.scale_in_after, "idle_to_zero": 2})
            key = json.loads((work / "home" / "credentials").read_text())["profiles"]["local"]["api_key"]
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
            body = orjson.dumps({"instances": [row]})

            def scaling() -> Any:
                return c.endpoints.get("auto").scaling

            for n in range(args.bursts):
                while scaling().replicas:
                    time.sleep(0.2)
                print(f"# Burst of {args.burst} requests at zero replicas" + (f" ({n + 1} of {args.bursts})"
                                                                               if args.bursts > 1 else ""))
                at = time.time()
                statuses, first = asyncio.run(burst(ep.url, headers, body, args.burst))
                failed = sum(1 for s in statuses if s != 200)
                cold = scaling().cold_start_seconds
                print(f"failed: {failed} of {len(statuses)}  cold start (server-measured): {cold:.2f} s  "
                      f"first answer: {first:.2f} s  (goal: 0 failed, first answer <= cold start + 1 s)")
                print_timeline(log, at, at + first + 0.5)
            if args.burst_only:
                return

            print(f"\n# Load step 1 -> 64 -> 1 connections, {args.step_seconds:g} s each "
                  f"(target {args.target_inflight:g} in flight per replica, scale in after {args.scale_in_after:g} s)")
            load = Step(ep.url, headers, body)
            load.connections = 1
            load.thread.start()
            what = f"{args.service_ms:g} ms per call" if args.model == "sleep" else args.model
            print(f"model: {what}")
            print(f"{'t s':>6} {'conns':>5} {'flight':>6} {'req/s':>7} {'errors':>6} {'ready':>5} {'desired':>7}  "
                  "last decision")
            timeline: list[tuple[float, int, int]] = []
            start = time.monotonic()
            last_done = 0
            phases = [(1, args.step_seconds), (64, args.step_seconds), (1, args.step_seconds + args.scale_in_after)]
            for conns, seconds in phases:
                load.connections = conns
                phase_end = time.monotonic() + seconds
                while time.monotonic() < phase_end:
                    time.sleep(2.0)
                    sc = scaling()
                    t = time.monotonic() - start
                    rate = (load.done - last_done) / 2.0
                    last_done = load.done
                    timeline.append((t, conns, sc.replicas))
                    why = sc.decisions[0].reason if sc.decisions else "-"
                    print(f"{t:6.0f} {conns:5d} {load.inflight:6d} {rate:7.0f} {load.errors:6d} {sc.replicas:5d} {sc.desired:7d}  "
                          f"{why[:90]}", flush=True)
            load.stop = True
            load.thread.join(10)
            up_at = args.step_seconds
            down_at = 2 * args.step_seconds
            # the step up: the most replicas while 64 connections ran (not the burst's, before the step)
            peak = max((r for t, _, r in timeline if up_at <= t < down_at), default=0)
            up = next((t - up_at for t, _, r in timeline if up_at <= t < down_at and r == peak), float("nan"))
            low = min(r for t, _, r in timeline if t >= down_at) if any(t >= down_at for t, _, _ in timeline) else 0
            down = next((t - down_at for t, _, r in timeline if t >= down_at and r == low), float("nan"))
            steady = [r for t, _, r in timeline if up_at + 30 <= t < down_at]
            changes = sum(1 for a, b in zip(steady, steady[1:]) if a != b)
            minutes = max(1e-9, (len(steady) * 2.0) / 60)
            print(f"\nfollowed the step up to {peak} replicas in {up:.0f} s (goal <= 30 s), down to {low} in "
                  f"{down:.0f} s (scale_in_after {args.scale_in_after:g} s); changes at steady load: {changes} in "
                  f"{minutes:.1f} min; errors {load.errors} of {load.done}")
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
