"""The gateway's replica client against real loopback servers that answer well, slowly, or badly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from slipway.serving.pool import ReplicaConnectionError, ReplicaPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return await reader.readexactly(length)


async def _serve(handler: Handler, path: str | None = None) -> tuple[asyncio.Server, int, list[int]]:
    connections: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    if path is not None:
        server = await asyncio.start_unix_server(on_connect, path)
        return server, 0, connections
    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], connections


def _run(handler: Handler, calls: Callable[[ReplicaPool, int], Awaitable[object]]) -> tuple[object, int]:
    async def main() -> tuple[object, int]:
        server, port, connections = await _serve(handler)
        pool = ReplicaPool()
        try:
            return await calls(pool, port), len(connections)
        finally:
            await pool.aclose()
            server.close()
            await asyncio.sleep(0.05)

    return asyncio.run(main())


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        body = await _read_request(reader)
        answer = b'{"echo": ' + body + b"}"
        # In three pieces, as a slow network would deliver it.
        whole = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(answer), answer)
        for i in range(0, len(whole), 20):
            writer.write(whole[i:i + 20])
            await writer.drain()
            await asyncio.sleep(0)


def test_answers_are_parsed_and_connections_reused() -> None:
    async def calls(pool: ReplicaPool, port: int) -> object:
        return [await pool.post(port, "/invocations", b"[%d]" % i, {"content-type": "application/json"}, 5.0)
                for i in range(5)]

    answers, connections = _run(_echo, calls)
    assert [a[0] for a in answers] == [200] * 5  # type: ignore[attr-defined]
    assert [a[2] for a in answers] == [b'{"echo": [%d]}' % i for i in range(5)]  # type: ignore[attr-defined]
    assert answers[0][1]["content-type"] == "application/json"  # type: ignore[index]
    assert connections == 1  # keep-alive: one connection for five calls


def test_concurrent_calls_each_get_their_own_answer() -> None:
    async def calls(pool: ReplicaPool, port: int) -> object:
        return await asyncio.gather(*[pool.post(port, "/invocations", b"[%d]" % i, {}, 5.0) for i in range(20)])

    answers, _ = _run(_echo, calls)
    assert [a[2] for a in answers] == [b'{"echo": [%d]}' % i for i in range(20)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("reply", [
    b"",  # closed before answering
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{}",  # no Content-Length
    b"garbage\r\n\r\n",  # no status code
    b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{}",  # closed mid-body
], ids=["closed", "no-length", "malformed", "short-body"])
def test_a_broken_answer_is_a_retryable_connection_error(reply: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(reply)
        await writer.drain()

    async def calls(pool: ReplicaPool, port: int) -> object:
        with pytest.raises(ReplicaConnectionError):
            await pool.post(port, "/invocations", b"{}", {}, 5.0)
        return None

    _run(handler, calls)


def test_no_replica_listening_is_a_connection_error() -> None:
    async def calls(pool: ReplicaPool, port: int) -> object:
        with pytest.raises(ReplicaConnectionError, match="ConnectionRefused"):
            await pool.post(port, "/invocations", b"{}", {}, 5.0)
        return None

    async def main() -> None:
        server, port, _ = await _serve(_echo)
        server.close()
        await server.wait_closed()
        await calls(ReplicaPool(), port)

    asyncio.run(main())


def test_a_slow_replica_times_out_and_its_connection_is_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await _read_request(reader)
        if body == b"slow":
            await asyncio.sleep(1.0)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await _echo(reader, writer)

    async def calls(pool: ReplicaPool, port: int) -> object:
        with pytest.raises(TimeoutError):
            await pool.post(port, "/invocations", b"slow", {}, 0.2)
        # The late answer to the slow call must never be read as the answer to the next one.
        return await pool.post(port, "/invocations", b"[1]", {}, 5.0)

    answer, connections = _run(handler, calls)
    assert answer[2] == b"ok"  # type: ignore[index]
    assert connections == 2


def test_connection_close_from_the_replica_is_honoured() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()

    async def calls(pool: ReplicaPool, port: int) -> object:
        return [await pool.post(port, "/invocations", b"{}", {}, 5.0) for _ in range(3)]

    answers, connections = _run(handler, calls)
    assert [a[2] for a in answers] == [b"ok"] * 3  # type: ignore[attr-defined]
    assert connections == 3


def test_a_unix_socket_address_is_served_the_same_way(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "r.sock")

    async def main() -> list[bytes]:
        server, _, _ = await _serve(_echo, path)
        pool = ReplicaPool()
        try:
            return [(await pool.post(path, "/invocations", b"[%d]" % i, {}, 5.0))[2] for i in range(3)]
        finally:
            await pool.aclose()
            server.close()
            await asyncio.sleep(0.05)  # the handler sees the pool's close and closes its side

    assert asyncio.run(main()) == [b'{"echo": [%d]}' % i for i in range(3)]
