"""The server process: one per home and port, clean stop on SIGTERM/SIGINT, status."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from tests.support.servers import SlipwayServer


def test_status_and_openapi(sqlite_server: SlipwayServer) -> None:
    with sqlite_server.http() as http:
        body = http.get("/api/v1/status").json()
        spec = http.get("/openapi.json").json()
        docs = http.get("/docs")
    assert body["database_backend"] == "sqlite"
    assert body["artifact_store"].startswith("file://")
    assert body["counts"] == {"datasets": 0, "dataset_versions": 0, "jobs": 0, "tuning_jobs": 0, "models": 0,
                              "endpoints": 0}
    assert "tmp-cleaner" in body["controllers"]
    assert "/api/v1/datasets" in spec["paths"]
    assert docs.status_code == 200


def test_second_server_on_same_home_is_refused(sqlite_server: SlipwayServer) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "slipway.cli.main", "--home", str(sqlite_server.home), "up", "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 1
    assert "already running on home" in r.stderr


def test_second_server_on_same_port_is_refused(sqlite_server: SlipwayServer, tmp_path: Path) -> None:
    port = urlparse(sqlite_server.url).port
    r = subprocess.run(
        [sys.executable, "-m", "slipway.cli.main", "--home", str(tmp_path / "other"), "up", "--port", str(port)],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 1
    assert f"Port {port}" in r.stderr and "already in use" in r.stderr


def test_sigterm_and_sigint_stop_cleanly(tmp_path: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        srv = SlipwayServer(tmp_path / f"home-{sig}").start()
        assert srv.stop(sig) == 0
        assert not (srv.home / "server.json").exists()
