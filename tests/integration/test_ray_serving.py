"""Endpoint replicas on Ray: a real `slipway up` with ``serving_runtime_url = ray+gcs://…`` on the session's Ray cluster.

The replicas are Ray actors running Slipway's replica server on the cluster's node; the server's gateway
proxies to their node address behind its access control and metrics. One server, one endpoint, one test:
deploy, invoke, 1→2 replicas, ``kill -9`` and restart (the replicas are adopted), delete.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from slipway.client import Client
from tests.support.models import first_rows, write_cancer_artifact
from tests.support.raycluster import RayCluster
from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for


def _replicas(srv: SlipwayServer, key: str, name: str) -> list[dict[str, object]]:
    r = httpx.get(f"{srv.url}/api/v1/endpoints/{name}", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    r.raise_for_status()
    replicas: list[dict[str, object]] = r.json().get("replicas") or []
    return replicas


@pytest.mark.xdist_group("ray")
def test_endpoint_on_ray_deploy_invoke_scale_restart_delete(tmp_path: Path, ray_cluster: RayCluster) -> None:
    # Through the GCS (the server runs on the cluster's one node): Ray Client's per-client servers take fixed
    # ports (23000, …) that collide when several test sessions run a cluster on one machine.
    url = f"ray+gcs://{ray_cluster.address}"
    srv = SlipwayServer(tmp_path / "home", env={"SLIPWAY_SERVING_RUNTIME_URL": url}).start(timeout=180)
    try:
        key = srv.admin_key
        with Client(url=srv.url, api_key=key, home=srv.home) as c:
            status = c.status()
            assert status.serving_runtime == f"ray: {url} (a Ray actor per replica)"
            shown = subprocess.run([sys.executable, "-m", "slipway.cli.main", "status"], env=srv.cli_env(),
                                   capture_output=True, text=True, timeout=60).stdout
            assert "serving runtime" in shown and f"ray: {url}" in " ".join(shown.split()), shown
            c.models.import_(write_cancer_artifact(tmp_path / "model"), "cancer")
            ep = c.endpoints.deploy("on-ray", "cancer:1", timeout=180)
            assert ep.status == "InService", ep.reason
            out = c.endpoints.invoke("on-ray", {"instances": first_rows(2)})
            assert len(out["predictions"]) == 2
            # No key, no invocation: the gateway's access control stands in front of the Ray replicas.
            anon = httpx.post(f"{srv.url}/endpoints/on-ray/invocations", json={"instances": first_rows(1)}, timeout=10)
            assert anon.status_code == 401

            ep = c.endpoints.update("on-ray", "cancer:1", replicas=2, timeout=180)
            assert ep.status == "InService", ep.reason
            wait_for(lambda: len(_replicas(srv, key, "on-ray")) == 2, timeout=30, what="two replicas recorded")
            for _ in range(6):  # the gateway picks among both replicas
                assert c.endpoints.invoke("on-ray", {"instances": first_rows(1)})["predictions"]
            metrics = httpx.get(f"{srv.url}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10).text
            assert 'endpoint="on-ray"' in metrics
            before = sorted(str(r["replica_id"]) for r in _replicas(srv, key, "on-ray"))

        # The server dies; its replicas (detached actors) serve on, and the restarted server adopts them.
        srv.kill()
        srv.start(timeout=180)
        with Client(url=srv.url, api_key=key, home=srv.home) as c:
            assert c.endpoints.get("on-ray").status == "InService"
            assert sorted(str(r["replica_id"]) for r in _replicas(srv, key, "on-ray")) == before
            assert c.endpoints.invoke("on-ray", {"instances": first_rows(1)})["predictions"]
            c.endpoints.delete("on-ray", timeout=60)
        srv_log = srv.log()
        assert "Traceback" not in srv_log, srv_log
    finally:
        srv.stop()
    import ray  # the actors are gone with the endpoint: nothing of it is left on the cluster

    ray.init(address=ray_cluster.address, logging_level="WARNING", log_to_driver=False)
    try:
        left = [a for a in ray.util.list_named_actors(all_namespaces=True)
                if str(a.get("name", "")).startswith("slipway-replica-")]
    finally:
        ray.shutdown()
    assert left == []


def test_unreachable_ray_at_start_names_url_and_what_to_check(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env["SLIPWAY_SERVING_RUNTIME_URL"] = f"ray://127.0.0.1:{port}"
    done = subprocess.run([sys.executable, "-m", "slipway.cli.main", "--home", str(tmp_path / "h"), "up", "--port", "0"],
                          capture_output=True, text=True, env=env, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert (f"Error: Cannot reach the Ray cluster at ray://127.0.0.1:{port} (setting 'serving_runtime_url')"
            in " ".join(out.split())), out
    assert "ray start --head" in out and "Traceback" not in out
