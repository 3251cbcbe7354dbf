"""A minimal HTTP/1.1 keep-alive client for gateway -> replica calls (POST /invocations only).

httpx's pool scans every pooled connection on each request and checks the async library each time;
at 64+ concurrent callers that cost the gateway milliseconds per request. Replicas are our own
uvicorn processes on loopback that always answer with Content-Length, so a plain stream per
connection, reused LIFO, is enough.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["ReplicaConnectionError", "ReplicaPool"]


class ReplicaConnectionError(Exception):
    """The replica could not be reached or closed the connection before answering (safe to retry)."""


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class ReplicaPool:
    """Idle keep-alive connections per replica address."""

    def __init__(self, max_idle: int = 256) -> None:
        self.max_idle = max_idle
        self._idle: dict[tuple[str, int], list[_Conn]] = {}

    async def post(self, host: str, port: int, path: str, body: bytes, headers: dict[str, str]
                   ) -> tuple[int, dict[str, str], bytes]:
        head = [f"POST {path} HTTP/1.1", f"host: {host}:{port}", f"content-length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        idle = self._idle.setdefault((host, port), [])
        while idle:  # a pooled connection the replica may have closed meanwhile: retry on a fresh one
            conn = idle.pop()
            try:
                return await self._exchange(conn, request, idle)
            except ReplicaConnectionError:
                continue
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            raise ReplicaConnectionError(f"{type(exc).__name__}: {exc}") from None
        return await self._exchange(_Conn(reader, writer), request, idle)

    async def _exchange(self, conn: _Conn, request: bytes, idle: list[_Conn]) -> tuple[int, dict[str, str], bytes]:
        done = False
        try:
            conn.writer.write(request)
            line = await conn.reader.readline()
            if not line:
                raise ReplicaConnectionError("the replica closed the connection")
            status = int(line.split(b" ", 2)[1])
            headers: dict[str, str] = {}
            while True:
                h = await conn.reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            if "content-length" in headers:
                data = await conn.reader.readexactly(int(headers["content-length"]))
            else:  # not what a replica sends, but correct: the body runs to the end of the connection
                data = await conn.reader.read()
                headers["connection"] = "close"
            done = headers.get("connection", "").lower() != "close"
            return status, headers, data
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            raise ReplicaConnectionError(f"{type(exc).__name__}: {exc}") from None
        finally:
            if done and len(idle) < self.max_idle:
                idle.append(conn)
            else:
                conn.close()

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for c in conns:
                c.close()
        self._idle.clear()
