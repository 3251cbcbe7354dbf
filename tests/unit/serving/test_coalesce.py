"""Coalesced writes: what one callback writes leaves in one send, closing sends what is kept first."""

from __future__ import annotations

import asyncio
import socket

from slipway.serving.coalesce import CoalescingTransport, http_protocol


async def _pair() -> tuple[CoalescingTransport, socket.socket, asyncio.AbstractEventLoop]:
    ours, peer = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    peer.setblocking(False)
    return CoalescingTransport(transport, loop), peer, loop  # type: ignore[arg-type]


def test_writes_in_one_turn_leave_together() -> None:
    async def main() -> None:
        t, peer, loop = await _pair()
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
        t.write(b"")
        t.write(b"body")
        assert t.get_write_buffer_size() == 42  # kept, not sent yet
        await asyncio.sleep(0)  # the flush runs on the next turn
        await asyncio.sleep(0)
        data = await loop.sock_recv(peer, 1024)
        assert data == b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody"
        t.close()
        peer.close()

    asyncio.run(main())


def test_close_sends_what_is_kept_before_closing() -> None:
    async def main() -> None:
        t, peer, loop = await _pair()
        t.write(b"last words")
        t.close()
        got = b""
        while True:
            chunk = await loop.sock_recv(peer, 1024)
            if not chunk:
                break  # EOF after the data, nothing lost
            got += chunk
        assert got == b"last words"
        assert t.is_closing()  # the rest is the real transport's
        peer.close()

    asyncio.run(main())


def test_the_protocol_is_uvicorns_httptools_one() -> None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert issubclass(http_protocol(), HttpToolsProtocol)
