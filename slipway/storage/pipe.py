"""A bounded, thread-safe pipe of byte blocks: one writer thread (or the event loop), one reader thread.

The dataset push streams an upload through it: the server's event loop sends the body's blocks,
a worker thread reads them as a file (hashing, encrypting and storing as they arrive), and a
``Tee`` hands the same blocks to a second pipe that the inspector reads. The queue depth bounds
memory; a full pipe makes the writer wait (back-pressure). Either end can give up: ``fail`` makes
the reader raise ``PipeAborted``; a reader that ``close``s makes further ``send``s return False
(the writer then stops, or for a tee simply drops the blocks).
"""

from __future__ import annotations

import io
import queue
import threading
from typing import Any, BinaryIO

__all__ = ["BlockPipe", "PipeAborted", "Tee"]


class PipeAborted(Exception):
    """The writer gave up (client gone, upload too large, inspection failed): no more bytes come."""


class BlockPipe(io.RawIOBase):
    def __init__(self, depth: int = 8) -> None:
        self._q: queue.Queue[bytes | None] = queue.Queue(depth)
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._error: str | None = None
        self._reader_gone = threading.Event()

    # -- writer side ------------------------------------------------------------------------

    def try_send(self, block: bytes) -> bool:
        """Queue ``block`` if there is room now (no waiting); False when full."""
        try:
            self._q.put_nowait(block)
        except queue.Full:
            return False
        return True

    def send(self, block: bytes | None) -> bool:
        """Queue ``block`` (None: end of data), waiting while full; False when the reader has gone."""
        while not self._reader_gone.is_set():
            try:
                self._q.put(block, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def finish(self) -> bool:
        return self.send(None)

    def fail(self, reason: str) -> None:
        """Make the reader raise ``PipeAborted(reason)`` at its next read (never waits)."""
        self._error = reason
        try:
            self._q.put_nowait(None)  # wake a reader waiting on an empty queue
        except queue.Full:
            pass

    @property
    def reader_gone(self) -> bool:
        return self._reader_gone.is_set()

    # -- reader side ------------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def _next(self) -> bool:
        if self._error is not None:
            raise PipeAborted(self._error)
        block = self._q.get()
        if self._error is not None:
            raise PipeAborted(self._error)
        if block is None:
            self._eof = True
            return False
        self._buf, self._pos = block, 0
        return True

    def read(self, n: int | None = -1) -> bytes:
        """Up to ``n`` bytes (at most one block: reads may be short); b"" only at the end."""
        if n is None or n < 0:
            parts = []
            while True:
                part = self.read(1 << 30)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        while self._pos >= len(self._buf):
            if self._eof or not self._next():
                return b""
        if self._pos == 0 and n >= len(self._buf):
            part = self._buf  # the whole block: no copy
        else:
            part = self._buf[self._pos : self._pos + n]
        self._pos += len(part)
        return part

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._reader_gone.set()
        super().close()


class Tee(io.RawIOBase):
    """Reads ``src`` and hands a copy of every block to ``branch`` (dropped once its reader is gone).

    The end of ``src`` (or an error reading it) is passed on to the branch. ``abort`` makes the
    next read raise ``PipeAborted``: the consumer of this stream (a store's put) then fails and
    removes what it wrote.
    """

    def __init__(self, src: BinaryIO, branch: BlockPipe) -> None:
        self._src, self._branch = src, branch
        self._abort: str | None = None

    def readable(self) -> bool:
        return True

    def abort(self, reason: str) -> None:
        self._abort = reason

    def read(self, n: int | None = -1) -> bytes:
        if self._abort is not None:
            raise PipeAborted(self._abort)
        try:
            block = self._src.read(n)
        except BaseException as exc:
            self._branch.fail(str(exc) or type(exc).__name__)
            raise
        if self._abort is not None:
            raise PipeAborted(self._abort)
        if not self._branch.reader_gone:
            self._branch.send(block if block else None)
        return block

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)
