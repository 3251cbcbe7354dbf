"""The plain reads' GET (slipway.sdk.plainget, over a socket) behaves as the SDK's httpx client: the same request,
the same answer, the same error (class, one-line message, status) for each kind of failure. A small HTTP server
on a free loopback port gives each answer; the HTTPS case runs against a real server in
tests/integration/test_tls.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from slipway.errors import SlipwayError
from slipway.sdk.http import Api
from slipway.sdk.plain import Plain
from slipway.sdk.plainget import PlainGet

ERROR = {"error": {"code": "", "message": "", "details": {"field": "x"}, "request_id": "r-1"}}


def _error(code: str, message: str) -> bytes:
    return json.dumps({"error": {**ERROR["error"], "code": code, "message": message}}).encode()


# path -> (status, content type, body)
ANSWERS: dict[str, tuple[int, str, bytes]] = {
    "/ok": (200, "application/json", b'{"items": [{"name": "a", "n": 1.5e3, "t": "\\u00e9"}], "next_page_token": null}'),
    "/401": (401, "application/json", _error("unauthorized", "Invalid API key.")),
    "/403": (403, "application/json", _error("forbidden", "Not allowed: jobs:ListJobs on job/*.")),
    "/404": (404, "application/json", _error("not_found", "No model named 'x'.")),
    "/503": (503, "application/json", _error("unavailable", "Shutting down.")),
    "/500": (500, "text/plain; charset=utf-8", "Internal Server Error: caf\u00e9".encode()),
    "/502": (502, "text/html", b"<html>bad gateway</html>" * 40),
    "/not-an-error": (400, "application/json", b'{"detail": "no error field"}'),
}
# the same answers in other framings: a chunked body; a body up to the end of the connection (no length)
ANSWERS.update({f"{path}/chunked": answer for path, answer in list(ANSWERS.items())[:2]})
ANSWERS.update({f"{path}/eof": answer for path, answer in list(ANSWERS.items())[:2]})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0].removeprefix("/prefix")
        self.seen.append({"path": self.path, "ua": self.headers.get("User-Agent"),
                          "auth": self.headers.get("Authorization")})
        if path.endswith("/slow"):
            time.sleep(2)
            return  # the client has given up (its timeout is shorter)
        said = path.endswith("/close")
        if said or path.endswith("/quietclose"):  # answers, then closes the connection (saying so, or not)
            self.close_connection = True
        status, ctype, body = ANSWERS.get(path, ANSWERS["/ok"])
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if path.endswith("/chunked"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (body[:7], body[7:], b""):
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
            return
        if path.endswith("/eof"):
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        if said:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _outcome(call: Callable[[], Any]) -> tuple[str, str, int | None, Any]:
    try:
        return ("answer", json.dumps(call()), None, None)
    except SlipwayError as exc:
        return (type(exc).__name__, exc.message, getattr(exc, "status_code", None), getattr(exc, "request_id", None))


@pytest.mark.parametrize("path", sorted(ANSWERS))
def test_each_answer_is_what_the_sdk_client_gives(http_server: str, path: str) -> None:
    api = Api(http_server + "/prefix", "swk_test_key", timeout=10, verify=True)  # a server behind a path
    params = {"limit": 1000, "status": "a b=c/d+\u00e9", "flag": True}
    _Handler.seen.clear()
    get = PlainGet(api)
    plain = _outcome(lambda: get.json(path, params))
    typed = _outcome(lambda: api.json("GET", path, params=params))
    get.close()
    assert plain == typed
    assert len(plain[1].splitlines()) == 1
    assert _Handler.seen[0] == _Handler.seen[1]  # the same path, query, User-Agent and Authorization
    assert _Handler.seen[0]["auth"] == "Bearer swk_test_key" and _Handler.seen[0]["ua"] == "slipway-sdk"
    assert _Handler.seen[0]["path"].startswith(f"/prefix{path}?limit=1000&")
    if path == "/500":
        assert plain[:3] == ("SlipwayError", f"HTTP 500 from {http_server}/prefix/500?limit=1000&status=a+b%3Dc%2Fd%2B"
                                             "%C3%A9&flag=true: Internal Server Error: caf\u00e9", 500)
    if path == "/403":
        assert plain == ("Forbidden", "Not allowed: jobs:ListJobs on job/*.", 403, "r-1")
    api.close()


def test_nothing_listening_is_the_sdks_server_not_running(http_server: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, not listening: refused
        api = Api(url, None, timeout=10, verify=True)
        plain = _outcome(lambda: PlainGet(api).json("/api/v1/status"))
        assert plain == _outcome(lambda: api.json("GET", "/api/v1/status"))
    assert plain[:2] == ("ServerNotRunning", f"No Slipway server answers at {url}. Start one with `slipway up` "
                                             "(or `make run`), or point SLIPWAY_URL at a running server.")
    api = Api("http://no-such-host.invalid:8080", None, timeout=10, verify=True)
    assert _outcome(lambda: PlainGet(api).json("/x"))[0] == "ServerNotRunning"


def test_a_kept_alive_connection_is_reused_and_replaced_when_the_server_closed_it(http_server: str) -> None:
    get = PlainGet(Api(http_server + "/", None, timeout=10, verify=True))
    assert get.json("/ok")["items"][0]["name"] == "a"
    first = get._sock
    assert get.json("/ok") and get._sock is first  # kept alive
    assert get.json("/ok/chunked") and get._sock is first
    assert get.json("/close") and get._sock is None  # the server said it closes
    assert get.json("/ok") and get._sock is not None
    assert get.json("/quietclose") and get._sock is not None  # as a server that drops an idle connection
    assert get.json("/ok")["items"][0]["n"] == 1500.0
    get.close()


def test_a_server_that_does_not_answer_in_time_is_one_line(http_server: str) -> None:
    get = PlainGet(Api(http_server, None, timeout=0.2, verify=True))
    with pytest.raises(SlipwayError) as late:
        get.json("/slow")
    assert late.value.message == f"The server at {http_server} sent no answer within 0.2 s (GET {http_server}/slow)."


def test_a_proxy_in_the_environment_is_used_as_httpx_uses_it(http_server: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With a proxy named, the GET goes through the SDK's httpx client, which sends it to the proxy (here the
    same small server, which sees the absolute URL a proxy is sent)."""
    monkeypatch.setenv("http_proxy", http_server)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    _Handler.seen.clear()
    api = Api("http://slipway.example:8080", None, timeout=10, verify=True)
    assert Plain(api).status()["items"][0]["name"] == "a"
    assert _Handler.seen[0]["path"] == "http://slipway.example:8080/api/v1/status"
    api.close()


def test_a_list_command_prints_the_servers_json_without_rich_httpx_or_http_client(http_server: str,
                                                                                  tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update({"SLIPWAY_HOME": str(tmp_path), "SLIPWAY_URL": http_server, "SLIPWAY_API_KEY": "swk_test_key"})
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", "from slipway.cli.main import main; main()",
                        "models", "list", "-o", "json"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout) == json.loads(ANSWERS["/ok"][2])["items"]
    modules = {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert sorted(m for m in modules if m.split(".")[0] in ("rich", "httpx", "http", "email", "ssl", "pydantic")
                  and m not in ("rich", "rich._extension")) == []
