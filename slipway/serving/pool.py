"""A minimal HTTP/1.1 keep-alive client for gateway -> replica calls (POST /invocations only).

Each pooled connection is an ``asyncio.Protocol`` that parses the answer as bytes arrive and
wakes one future per request: no StreamReader line by line, no task per call for the timeout (a
timer on the loop cuts it off). httpx's pool scanned every pooled connection on each request and
cost the gateway milliseconds at 64 callers. Replicas are our own uvicorn processes on loopback
that always answer with Content-Length; anything else (a close, a malformed head) fails the call
with ``ReplicaConnectionError``, which the gateway retries on another replica.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["ReplicaConnectionError", "ReplicaPool"]

Answer = tuple[int, dict[str, str], bytes]


class ReplicaConnectionError(Exception):
    """The replica could not be reached or closed the connection before answering (safe to retry)."""


class _Conn(asyncio.Protocol):
    """One keep-alive connection to a replica; at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Answer] | None = None
        self.open = True
        self.reusable = True

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail(ReplicaConnectionError(f"the replica closed the connection ({exc or 'EOF'})"))

    def eof_received(self) -> bool:
        self.open = False
        return False  # close our side too; connection_lost follows

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        try:
            answer = self._parse()
        except (ValueError, IndexError) as exc:
            self._fail(ReplicaConnectionError(f"malformed answer from the replica: {exc}"))
            self.close()
            return
        if answer is not None:
            self.waiter = None
            waiter.set_result(answer)

    def _parse(self) -> Answer | None:
        buf = self.buffer
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" not in headers:  # replicas always send it
            raise ValueError("no Content-Length")
        length = int(headers["content-length"])
        start = end + 4
        if len(buf) < start + length:
            return None
        body = bytes(buf[start:start + length])
        del buf[:start + length]
        if headers.get("connection", "").lower() == "close":
            self.reusable = False
        return status, headers, body

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()


class ReplicaPool:
    """Idle keep-alive connections per replica address, reused last-in first-out.

    An address is a Unix socket path (str), a TCP port on ``host`` (int), or (host, port) on another node.
    """

    def __init__(self, max_idle: int = 256, host: str = "127.0.0.1") -> None:
        self.max_idle = max_idle
        self.host = host
        self._idle: dict[int | str | tuple[str, int], list[_Conn]] = {}

    async def post(self, address: int | str | tuple[str, int], path: str, body: bytes, headers: dict[str, str], timeout: float
                   ) -> Answer:
        """Send one request; raise ReplicaConnectionError (retry elsewhere) or TimeoutError."""
        head = [f"POST {path} HTTP/1.1", f"host: {self.host}", f"content-length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        idle = self._idle.setdefault(address, [])
        while idle:  # a pooled connection the replica may have closed meanwhile: retry on a fresh one
            conn = idle.pop()
            if not conn.open:
                continue
            try:
                return await self._exchange(conn, request, idle, timeout)
            except ReplicaConnectionError:
                continue
        loop = asyncio.get_running_loop()
        try:
            if isinstance(address, str):
                _, conn = await loop.create_unix_connection(_Conn, address)
            elif isinstance(address, tuple):
                _, conn = await loop.create_connection(_Conn, address[0], address[1])
            else:
                _, conn = await loop.create_connection(_Conn, self.host, address)
        except OSError as exc:
            raise ReplicaConnectionError(f"{type(exc).__name__}: {exc}") from None
        return await self._exchange(conn, request, idle, timeout)

    async def _exchange(self, conn: _Conn, request: bytes, idle: list[_Conn], timeout: float) -> Answer:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Answer] = loop.create_future()
        conn.waiter = waiter
        timer = loop.call_later(timeout, _expire, waiter)
        ok = False
        try:
            assert conn.transport is not None
            conn.transport.write(request)
            answer = await waiter
            ok = True
            return answer
        finally:
            timer.cancel()
            if ok and conn.open and conn.reusable and not conn.buffer and len(idle) < self.max_idle:
                idle.append(conn)
            else:  # a timed-out, cancelled or broken exchange leaves the connection in an unknown state
                conn.waiter = None
                conn.close()

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for c in conns:
                c.close()
        self._idle.clear()


def _expire(waiter: asyncio.Future[Answer]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())
