"""Benchmark: endpoint replicas as local processes vs as Ray actors. Prints figures side by side.

    PYTHONPATH=. .venv/bin/python bench/ray_serving.py [--requests 300]

Starts a local Ray head (2 CPUs, tests/support/raycluster.py) and two `slipway up` servers, one with
``serving_runtime_url = local`` and one with ``ray+gcs://…``; on each it deploys the same scikit-learn
model, times the deploy (1 replica: start to InService), the scale-out to 2 replicas, and sequential
invocations through the gateway (the Ray replicas are reached over TCP on the node's address, the local
ones over their Unix socket).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from slipway.client import Client
from tests.support.models import first_rows, write_cancer_artifact
from tests.support.raycluster import RayCluster
from tests.support.servers import SlipwayServer


def _measure(srv: SlipwayServer, root: Path, requests: int) -> dict[str, float]:
    with Client(url=srv.url, api_key=srv.admin_key, home=srv.home) as c:
        c.models.import_(write_cancer_artifact(root / "model"), "cancer")
        t = time.perf_counter()
        ep = c.endpoints.deploy("bench", "cancer:1", timeout=300)
        deploy = time.perf_counter() - t
        assert ep.status == "InService", ep.reason
        t = time.perf_counter()
        ep = c.endpoints.update("bench", "cancer:1", replicas=2, timeout=300)
        scale = time.perf_counter() - t
        assert ep.status == "InService", ep.reason
        body = {"instances": first_rows(1)}
        for _ in range(20):
            c.endpoints.invoke("bench", body)
        lat = []
        for _ in range(requests):
            t = time.perf_counter()
            c.endpoints.invoke("bench", body)
            lat.append(time.perf_counter() - t)
        c.endpoints.delete("bench", timeout=120)
    lat.sort()
    return {"deploy_s": deploy, "scale_1_to_2_s": scale, "p50_ms": 1000 * statistics.median(lat),
            "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="slipway-bench-ray-"))
    cluster = RayCluster(root / "ray").start()
    results: dict[str, dict[str, float]] = {}
    try:
        for name, url in (("local", "local"), ("ray", f"ray+gcs://{cluster.address}")):
            srv = SlipwayServer(root / f"{name}-home", env={"SLIPWAY_SERVING_RUNTIME_URL": url}).start(timeout=180)
            try:
                results[name] = _measure(srv, root / f"{name}-work", args.requests)
            finally:
                srv.stop()
    finally:
        cluster.stop()
    keys = list(next(iter(results.values())))
    print(f"{'':>16}" + "".join(f"{k:>16}" for k in keys))
    for name, row in results.items():
        print(f"{name:>16}" + "".join(f"{row[k]:>16.3f}" for k in keys))


if __name__ == "__main__":
    main()
