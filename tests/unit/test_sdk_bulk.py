"""The SDK's bulk transfers (http.client, sendfile): no server answering, and when httpx takes over."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from slipway.errors import ServerNotRunning
from slipway.sdk.http import Api, write_body


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


class _Body:
    """An HTTP response body as ``write_body`` reads it: headers, and reads of any size up to what is asked."""

    def __init__(self, data: bytes, read_size: int) -> None:
        self._data, self._pos, self._read = data, 0, read_size

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return str(len(self._data)) if name == "Content-Length" else default

    def readinto(self, b: Any) -> int:
        n = min(len(b), self._read, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


@pytest.mark.parametrize("size", [0, 4096, 3 * (4 << 20), 2 * (4 << 20) + 12_345])
def test_write_body_writes_exactly_the_body_direct_or_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          size: int) -> None:
    # Bodies from 4 KB on take the direct-I/O path here (where the filesystem has it): whole 4 MB blocks
    # direct, the partial last one through the page cache; short reads from the socket in between.
    monkeypatch.setattr("slipway.sdk.http._DIRECT_MIN", 4096)
    data = os.urandom(size)
    seen: list[int] = []
    assert write_body(_Body(data, 300_001), tmp_path / "out", seen.append) == size
    assert (tmp_path / "out").read_bytes() == data and sum(seen) == size
