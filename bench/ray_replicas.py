"""Benchmark: endpoint replicas on Ray, Slipway's plain-actor replica vs a Ray Serve deployment of the same
predictor ("measure and choose", issue #18). Prints a table.

    PYTHONPATH=$PWD python bench/ray_replicas.py [--duration 10] [--conns 1,64]

On one local Ray head (2 CPUs, tests/support/raycluster.py), the same scikit-learn model (the cancer
LogisticRegression of tests/support/models.py) is served by

- ``actor/gateway``: a `slipway up` with ``serving_runtime_url = ray+gcs://…`` (one replica, a Ray actor
  running Slipway's replica server), invoked through the server's gateway with an API key;
- ``actor/direct``: the same replica, invoked on its own port on the node (what the gateway proxies to);
- ``serve``: a Ray Serve deployment (one replica, 0.5 CPU as Slipway's) whose ``__call__`` runs Slipway's
  ``Predictor`` on the same artifact folder, through Serve's HTTP proxy (access logs off, as Slipway's
  replica and gateway write no line per request).

For each: requests/s and p50/p99 (ms) of one-row JSON requests at each connection count (wrk when
installed, an asyncio httpx client otherwise), and the cold start: the deploy call to InService for the
actor replica, ``serve.run`` to the first 200 for Serve (the first Serve deployment also starts Serve's
controller and proxy, counted apart as ``serve start``).

Ray Serve needs ``ray[serve]``'s extra dependencies (aiohttp, grpcio-reflection, opencensus, …), which the
project's environment does not install. Run this with an interpreter that has them and sees the project's
packages, e.g. a venv whose site-packages holds a ``.pth`` naming the project venv's site-packages and where
``pip install 'ray[serve]==<the same Ray>'`` was run. Without them the Serve rows are skipped with the reason;
nothing is downloaded at run time. ``uptime`` is printed beside the figures (a loaded machine skews them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.serving import run_httpx, run_wrk  # noqa: E402
from slipway.client import Client  # noqa: E402
from tests.support.models import first_rows, write_cancer_artifact  # noqa: E402
from tests.support.raycluster import RayCluster  # noqa: E402
from tests.support.servers import SlipwayServer  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _load(url: str, body: bytes, conns: int, duration: float, work: Path,
          headers: dict[str, str]) -> dict[str, float]:
    headers = {"Content-Type": "application/json", **headers}
    if shutil.which("wrk"):
        return run_wrk(url, body, conns, duration, work, headers)
    return run_httpx(url, body, conns, duration, headers)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _serve_missing() -> str | None:
    try:
        import ray.serve  # noqa: F401
    except ImportError as exc:
        return f"ray[serve] is not installed here ({exc.name or exc}): pip install 'ray[serve]'"
    return None


def bench_actor(cluster: RayCluster, root: Path, body: bytes, conns: list[int], duration: float,
                rows: dict[str, dict[str, Any]]) -> None:
    srv = SlipwayServer(root / "actor-home", env={"SLIPWAY_SERVING_RUNTIME_URL": f"ray+gcs://{cluster.address}"})
    srv.start(timeout=180)
    try:
        key = srv.admin_key
        with Client(url=srv.url, api_key=key, home=srv.home) as c:
            c.models.import_(write_cancer_artifact(root / "actor-model"), "cancer")
            t = time.perf_counter()
            ep = c.endpoints.deploy("bench", "cancer:1", timeout=300)
            cold = time.perf_counter() - t
            assert ep.status == "InService", ep.reason
            view = httpx.get(f"{srv.url}/api/v1/endpoints/bench", headers={"Authorization": f"Bearer {key}"},
                             timeout=10).json()
            direct = str(view["replicas"][0]["url"])  # http://<node>:<port>/invocations
            gateway = f"{srv.url}/endpoints/bench/invocations"
            for name, url, headers in (("actor/gateway", gateway, {"Authorization": f"Bearer {key}"}),
                                       ("actor/direct", direct, {})):
                assert httpx.post(url, content=body, headers={"Content-Type": "application/json", **headers},
                                  timeout=30).status_code == 200, url
                rows[name] = {"cold_s": cold}
                for n in conns:
                    rows[name][n] = _load(url, body, n, duration, root, headers)
            c.endpoints.delete("bench", timeout=120)
    finally:
        srv.stop()


def bench_serve(cluster: RayCluster, root: Path, body: bytes, conns: list[int], duration: float,
                rows: dict[str, dict[str, Any]]) -> None:
    import ray
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import Response

    folder = str(write_cancer_artifact(root / "serve-model"))

    quiet = {"enable_access_log": False, "log_level": "WARNING"}  # as Slipway's replica: no line per request

    @serve.deployment(ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=256, logging_config=quiet)
    class SlipwayPredictor:
        def __init__(self, artifact: str) -> None:
            from slipway.serving.predictor import Predictor

            self.predictor = Predictor(Path(artifact))
            self.predictor.load()

        async def __call__(self, request: Request) -> Response:
            status, out, ctype = self.predictor.invoke(await request.body(), request.headers.get(
                "content-type", "application/json"), "application/json")
            return Response(out, status_code=status, media_type=ctype)

    ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
    port = _free_port()
    try:
        t = time.perf_counter()
        serve.start(http_options={"host": "127.0.0.1", "port": port}, logging_config=quiet)
        started = time.perf_counter() - t
        t = time.perf_counter()
        serve.run(SlipwayPredictor.bind(folder), name="bench", route_prefix="/")
        url = f"http://127.0.0.1:{port}/"
        while True:
            try:
                if httpx.post(url, content=body, headers={"Content-Type": "application/json"},
                              timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        cold = time.perf_counter() - t
        rows["serve"] = {"cold_s": cold, "serve_start_s": started}
        for n in conns:
            rows["serve"][n] = _load(url, body, n, duration, root, {})
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--conns", default="1,64")
    args = ap.parse_args()
    conns = [int(c) for c in args.conns.split(",")]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    root = Path(tempfile.mkdtemp(prefix="slipway-bench-replicas-"))
    body = json.dumps({"instances": first_rows(1)}).encode()
    rows: dict[str, dict[str, Any]] = {}
    missing = _serve_missing()
    print(f"before: {_uptime()}")
    cluster = RayCluster(root / "ray").start()
    try:
        bench_actor(cluster, root, body, conns, args.duration, rows)
        if missing is None:
            bench_serve(cluster, root, body, conns, args.duration, rows)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"after:  {_uptime()}")
    head = f"{'':>14}{'cold start s':>14}" + "".join(f"{f'rps@{n}':>10}{f'p50@{n} ms':>12}{f'p99@{n} ms':>12}"
                                                      for n in conns)
    print(head)
    for name, row in rows.items():
        line = f"{name:>14}{row['cold_s']:>14.2f}"
        for n in conns:
            cell = row[n]
            line += f"{cell['rps']:>10.0f}{cell['p50']:>12.1f}{cell['p99']:>12.1f}"
            if cell.get("errors"):
                line += f"  ({cell['errors']:.0f} errors)"
        print(line)
    if "serve" in rows:
        print(f"serve start (controller + HTTP proxy, once per cluster): {rows['serve']['serve_start_s']:.2f} s")
    else:
        print(f"serve: skipped, {missing}")


if __name__ == "__main__":
    main()
