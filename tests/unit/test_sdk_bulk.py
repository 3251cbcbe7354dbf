"""The SDK's bulk transfers (http.client, sendfile): no server answering, and when httpx takes over."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from slipway.errors import ServerNotRunning
from slipway.sdk.http import Api


def _dead_url() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_no_server_is_server_not_running_for_uploads_and_downloads(tmp_path: Path) -> None:
    api = Api(_dead_url(), "key", timeout=5, verify=True)
    body = tmp_path / "x.csv"
    body.write_bytes(b"a\n1\n")
    with pytest.raises(ServerNotRunning, match="No Slipway server answers"), body.open("rb") as f:
        api.send_file("POST", "/api/v1/datasets/x/versions", f, 4, params={"filename": "x.csv"})
    with pytest.raises(ServerNotRunning, match="No Slipway server answers"), api.get_body("/api/v1/datasets/x:1/content"):
        pass


def test_a_configured_proxy_sends_bulk_bytes_through_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    api = Api("http://10.1.2.3:8080", None, timeout=5, verify=True)
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert api._direct()
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    assert not api._direct()
    monkeypatch.setenv("no_proxy", "10.1.2.3")
    assert api._direct()
