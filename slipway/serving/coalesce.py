"""One send per HTTP response: uvicorn's httptools protocol with its writes coalesced per event-loop turn.

uvicorn writes a response's head and its body with two ``transport.write`` calls; on a connected
socket each is a ``send`` system call (kernel TCP work, a wake-up of the peer). Profiled with py-spy
at 64 connections, those writes were over half of the gateway's event-loop samples
(docs/benchmarks.md). Here the writes made while one callback runs are kept and sent together, once,
by a callback scheduled on the first of them: the head and the body of an answer leave in one
``send``. Closing (or ``write_eof``) sends what is kept first, so nothing is lost or reordered.

Used by the server (``slipway up``) and by replicas; with httptools missing, uvicorn's own choice serves.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["CoalescingTransport", "http_protocol"]


class CoalescingTransport:
    """A transport whose ``write`` calls within one turn of the loop become one write of the real one."""

    __slots__ = ("_loop", "_pending", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self.transport.is_closing():
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def get_write_buffer_size(self) -> int:
        kept = sum(len(p) for p in self._pending) if self._pending else 0
        return int(self.transport.get_write_buffer_size()) + kept

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._pending = None
        self.transport.abort()

    def __getattr__(self, name: str) -> Any:  # everything else: the real transport's
        return getattr(self.transport, name)


def http_protocol() -> Any:
    """uvicorn's httptools protocol with coalesced writes, or "auto" when httptools is not installed."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return "auto"

    class CoalescingHttpToolsProtocol(HttpToolsProtocol):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(CoalescingTransport(transport, self.loop))

    return CoalescingHttpToolsProtocol
