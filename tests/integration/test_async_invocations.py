"""Asynchronous invocations end to end: a real server and replicas, a callback receiver, a crash and restart."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from slipway.client import Client
from slipway.errors import Conflict, InvalidArgument, NotFound
from tests.support.models import first_rows, write_cancer_artifact
from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.warm_spare  # deploys endpoints: keep the warm spare replica (tests/conftest.py)


class Receiver:
    """A plain HTTP server in the test process that records what callbacks POST to it."""

    def __init__(self) -> None:
        received: list[dict] = []  # type: ignore[type-arg]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.received = received
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_async_results_callbacks_bad_input_and_a_crash(tmp_path: Path, receiver: Receiver) -> None:
    # Callbacks to a closed port give up after 2 tries (backoff 1 s) so the test sees the failure.
    srv = SlipwayServer(tmp_path / "home", env={"SLIPWAY_ASYNC_CALLBACK_ATTEMPTS": "2"}).start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
            c.endpoints.deploy("cancer-ep", "cancer:1")
            c.endpoints.deploy("other-ep", "cancer:1")
            rows = first_rows(3)
            sync = c.endpoints.invoke("cancer-ep", {"instances": rows})

            queued = c.endpoints.invoke_async("cancer-ep", {"instances": rows}, callback_url=receiver.url)
            assert queued.status == "queued" and len(queued.id) == 32
            done = c.endpoints.wait_async("cancer-ep", queued.id, timeout=60)
            assert done.status == "succeeded" and done.result == sync and done.model == "cancer:1"
            assert c.endpoints.async_output("cancer-ep", queued.id).json() == sync
            wait_for(lambda: receiver.received, what="the callback")
            assert receiver.received[0]["id"] == queued.id and receiver.received[0]["result"] == sync
            # The receiver answers before the server records the delivery: wait for the record.
            wait_for(lambda: c.endpoints.async_result("cancer-ep", queued.id).callback_status == "delivered",
                     what="the callback to be recorded as delivered")

            # An id of another endpoint's request, or one that does not exist: 404. A malformed id: 400.
            with pytest.raises(NotFound, match="has no asynchronous invocation"):
                c.endpoints.async_result("other-ep", queued.id)
            with pytest.raises(NotFound, match="has no asynchronous invocation"):
                c.endpoints.async_result("cancer-ep", "0" * 32)
            with pytest.raises(NotFound):
                c.endpoints.invoke_async("no-such-ep", {"instances": rows})
            with pytest.raises(InvalidArgument, match="callback_url"):
                c.endpoints.invoke_async("cancer-ep", {"instances": rows}, callback_url="file:///etc/passwd")

            # A request the model refuses fails with the replica's words; its callback (to nobody) fails visibly.
            bad = c.endpoints.invoke_async("cancer-ep", {"instances": [[1.0, 2.0]]}, callback_url="http://127.0.0.1:9/x")
            bad = c.endpoints.wait_async("cancer-ep", bad.id, timeout=60)
            assert bad.status == "failed" and bad.http_status == 400 and "30" in bad.error
            with pytest.raises(Conflict, match="is failed"):
                c.endpoints.async_output("cancer-ep", bad.id)
            wait_for(lambda: c.endpoints.async_result("cancer-ep", bad.id).callback_status == "failed",
                     what="the callback to give up")
            assert "gave up after 2 attempts" in c.endpoints.async_result("cancer-ep", bad.id).callback_error

            # A burst, then the server dies: whatever was queued or running is answered by the next server.
            ids = [c.endpoints.invoke_async("cancer-ep", {"instances": rows}).id for _ in range(20)]
        srv.kill()
        srv.start()
        with Client(url=srv.url, home=srv.home) as c:
            results = [c.endpoints.wait_async("cancer-ep", i, timeout=120) for i in ids]
            assert [(r.status, r.result) for r in results] == [("succeeded", sync)] * 20
            assert c.endpoints.async_result("cancer-ep", queued.id).result == sync  # kept through the restart
            http = httpx.get(f"{srv.url}/endpoints/cancer-ep/async-invocations/nope",
                             headers={"Authorization": f"Bearer {srv.admin_key}"})
            assert http.status_code == 400 and http.json()["error"]["details"]["field"] == "id"
    finally:
        srv.stop()


def test_cli_invoke_async_and_result(sqlite_server: SlipwayServer, tmp_path: Path) -> None:
    import subprocess
    import sys

    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
        c.endpoints.deploy("cancer-ep", "cancer:1")
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"instances": first_rows(2)}))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "slipway.cli.main", *args], capture_output=True, text=True,
                              env=sqlite_server.cli_env(), timeout=120)

    out = cli("endpoints", "invoke-async", "cancer-ep", "--input", str(big), "--wait", "--output", "json")
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    assert view["status"] == "succeeded" and len(view["result"]["predictions"]) == 2
    shown = cli("endpoints", "async-result", "cancer-ep", view["id"])
    assert shown.returncode == 0 and "succeeded" in shown.stdout and "malignant" in shown.stdout
    missing = cli("endpoints", "async-result", "cancer-ep", "0" * 32)
    assert missing.returncode != 0 and "has no asynchronous invocation" in missing.stderr
