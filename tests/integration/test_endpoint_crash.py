"""Endpoints outlive a crash of the server: replicas keep serving, the next server adopts them.

Real server processes on one home, real replica processes, `kill -9` of the server under load.
Also the private serving copies of models: where they live, and when they go.
"""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import httpx

from slipway.client import Client
from slipway.services import Platform
from slipway.settings import Settings
from tests.support.load import Load
from tests.support.models import write_cancer_artifact
from tests.support.servers import SlipwayServer
from tests.support.waiting import pid_alive, wait_for


def copies(home: Path) -> dict[str, Path]:
    """The serving copies of models on this home, by folder name."""
    folder = home / "serving" / "models"
    return {p.name: p for p in folder.iterdir()} if folder.is_dir() else {}


def assert_private(folder: Path) -> None:
    for p in [folder, *folder.rglob("*")]:
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p


def test_replicas_serve_through_a_crash_and_the_next_server_adopts_them(tmp_path: Path) -> None:
    srv = SlipwayServer(tmp_path / "home").start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
            c.models.import_(write_cancer_artifact(tmp_path / "v2", kind="lr-c"), "cancer")
            ep = c.endpoints.deploy("cancer-ep", "cancer:1")
        [replica] = ep.replicas
        [copy] = copies(srv.home).values()
        assert copy.name.startswith("cancer-1-")
        assert_private(copy)
        assert stat.S_IMODE((srv.home / "serving").stat().st_mode) == 0o700

        with Load(replica.url, srv.admin_key) as direct:  # straight at the replica's own port
            wait_for(lambda: len(direct.statuses) >= 20, what="requests before the crash")
            srv.kill()
            at_crash = len(direct.statuses)
            wait_for(lambda: len(direct.statuses) >= at_crash + 100, what="requests while no server runs")
            srv.start()  # returns once /healthz answers
            gateway_url = f"{srv.url}/endpoints/cancer-ep/invocations"
            with Load(gateway_url, srv.admin_key) as gateway:
                wait_for(lambda: len(gateway.statuses) >= 100, what="requests through the new server")
            after = len(direct.statuses)
            wait_for(lambda: len(direct.statuses) >= after + 20, what="requests after the restart")
        assert direct.errors == [] and set(direct.statuses) == {200}
        assert gateway.errors == [] and set(gateway.statuses) == {200}  # no 503 window after the restart

        with Client(url=srv.url, home=srv.home) as c:
            view = c.endpoints.get("cancer-ep")
            assert view.status == "InService"
            assert [(r.pid, r.port) for r in view.replicas] == [(replica.pid, replica.port)]  # adopted
            assert list(copies(srv.home).values()) == [copy]  # still the adopted replica's

            # Copies go with their last replica: an update moves off cancer:1, a delete off cancer:2.
            c.endpoints.update("cancer-ep", "cancer:2")
            wait_for(lambda: not pid_alive(replica.pid), what="the old replica to stop")
            wait_for(lambda: [n[:9] for n in copies(srv.home)] == ["cancer-2-"], what="cancer:1's copy to go")
            c.models.delete("cancer:1")
            c.endpoints.delete("cancer-ep")
            wait_for(lambda: copies(srv.home) == {}, what="cancer:2's copy to go with the endpoint")
    finally:
        srv.stop()


def test_a_restart_stops_replicas_of_endpoints_deleted_meanwhile_and_stale_copies(tmp_path: Path) -> None:
    srv = SlipwayServer(tmp_path / "home").start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
            c.models.import_(write_cancer_artifact(tmp_path / "v2", kind="lr-c"), "cancer")
            pid = {name: c.endpoints.deploy(name, model).replicas[0].pid
                   for name, model in (("keep", "cancer:1"), ("marked", "cancer:1"), ("gone", "cancer:2"))}
        assert sorted(n[:9] for n in copies(srv.home)) == ["cancer-1-", "cancer-2-"]
        srv.kill()
        assert all(pid_alive(p) for p in pid.values())

        # While no server runs: one endpoint is marked for deletion, another one's row is gone entirely.
        p = Platform(Settings.load(env={}, home=srv.home))
        try:
            p.endpoints.delete("marked")
            p.endpoints.delete("gone")
            p.endpoints.finish_delete("gone")
        finally:
            p.close()

        srv.start()
        with Client(url=srv.url, home=srv.home) as c:
            wait_for(lambda: not pid_alive(pid["marked"]) and not pid_alive(pid["gone"]), what="stale replicas")
            assert pid_alive(pid["keep"])
            assert [r.pid for r in c.endpoints.get("keep").replicas] == [pid["keep"]]
            assert [e.name for e in c.endpoints.list().items] in (["keep"], ["keep", "marked"])
            wait_for(lambda: [e.name for e in c.endpoints.list().items] == ["keep"], what="the delete to finish")
        [copy] = copies(srv.home).values()  # cancer:2 served only "gone": a stale copy, removed at start
        assert copy.name.startswith("cancer-1-")
        assert_private(copy)

        srv.stop()  # a clean stop stops the replicas it adopted, and their copies go with them
        wait_for(lambda: not pid_alive(pid["keep"]), what="the adopted replica to stop with the server")
        assert copies(srv.home) == {}
    finally:
        srv.stop()


def test_status_is_not_in_service_until_a_healthy_replica_serves_after_a_restart(tmp_path: Path) -> None:
    srv = SlipwayServer(tmp_path / "home").start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
            [replica] = c.endpoints.deploy("cancer-ep", "cancer:1").replicas
        srv.kill()
        os.kill(replica.pid, signal.SIGKILL)  # no replica survives this crash
        wait_for(lambda: not pid_alive(replica.pid))

        srv.start()
        seen: list[str] = []
        with Client(url=srv.url, home=srv.home) as c:
            def settled() -> bool:
                view = c.endpoints.get("cancer-ep")
                seen.append(view.status)
                if view.status == "InService":  # only ever with a replica that answers
                    assert [httpx.get(f"http://127.0.0.1:{r.port}/ping").status_code for r in view.replicas] == [200]
                    return True
                assert view.status == "Recovering" and "starting new ones" in view.reason
                return False

            wait_for(settled, what="a new replica")
            assert seen[0] == "Recovering"
            [fresh] = c.endpoints.get("cancer-ep").replicas
            assert fresh.pid != replica.pid
    finally:
        srv.stop()


def test_replicas_stop_by_themselves_when_no_server_comes_back(tmp_path: Path) -> None:
    srv = SlipwayServer(tmp_path / "home", env={"SLIPWAY_REPLICA_ORPHAN_TIMEOUT": "2"}).start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
            [replica] = c.endpoints.deploy("cancer-ep", "cancer:1").replicas
        srv.kill()
        assert httpx.get(f"http://127.0.0.1:{replica.port}/ping").status_code == 200  # still serving
        wait_for(lambda: not pid_alive(replica.pid), timeout=30, what="the orphaned replica to stop")
        logs = "".join(p.read_text() for p in (srv.home / "serving" / "logs").glob("*.log"))
        assert "setting 'replica_orphan_timeout' is 2 s); stopping" in logs
    finally:
        srv.stop()
