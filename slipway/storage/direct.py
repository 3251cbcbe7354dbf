"""Writing big files without the page cache: whole aligned blocks with ``O_DIRECT``, the tail the plain way.

On the benchmark machine (ext4 on a virtual disk) a plain write of new bytes cost 4.5–5.5 CPU-seconds per GB
in the kernel (allocating and filling page-cache pages) and capped every write near 200 MB/s; the same
bytes written with direct I/O from an aligned buffer: about 1.5 GB/s at 0.07 CPU-s/GB. ``DirectWriter``
gathers what it is given into one page-aligned 4 MB buffer (one copy) and writes each full buffer directly;
a file smaller than the buffer, the last partial buffer, and any filesystem or OS without direct I/O
(tmpfs refuses it at open; macOS has no ``O_DIRECT``) are written through the page cache as before.
"""

from __future__ import annotations

import mmap
import os
from typing import Any

__all__ = ["BLOCK", "DirectWriter"]

BLOCK = 4 << 20  # the buffer; a multiple of every block size direct I/O asks alignment to
_ALIGN = 4096


class DirectWriter:
    """Writes to a new file at ``path`` (created, or truncated); ``close()`` writes what is left."""

    def __init__(self, path: str | os.PathLike[str], mode: int = 0o666) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        self._direct = getattr(os, "O_DIRECT", 0)
        self.fd = -1
        if self._direct:
            try:
                self.fd = os.open(path, flags | self._direct, mode)
            except OSError:
                self._direct = 0
        if self.fd < 0:
            self.fd = os.open(path, flags, mode)
        self._buf = mmap.mmap(-1, BLOCK)  # page-aligned
        self._view = memoryview(self._buf)
        self._fill = 0

    def fileno(self) -> int:
        return self.fd

    def write(self, data: Any) -> int:
        src = memoryview(data).cast("B")
        n = len(src)
        while src:
            take = min(len(src), BLOCK - self._fill)
            self._view[self._fill : self._fill + take] = src[:take]
            self._fill += take
            src = src[take:]
            if self._fill == BLOCK:
                self._flush()
        return n

    def _plain(self) -> None:
        if self._direct:
            import fcntl

            fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~self._direct)
            self._direct = 0

    def _flush(self) -> None:
        if self._direct and self._fill % _ALIGN:
            self._plain()  # a partial last block
        done = 0
        while done < self._fill:
            try:
                done += os.write(self.fd, self._view[done : self._fill])
            except OSError:
                if not self._direct:
                    raise
                self._plain()  # the filesystem took the open but not the write: the plain way
                continue
            if self._direct and done % _ALIGN:
                self._plain()
        self._fill = 0

    def close(self, fsync: bool = False) -> None:
        """Write what is buffered (then ``fsync`` if asked) and close; a second call does nothing."""
        if self.fd < 0:
            return
        try:
            self._flush()
            if fsync:
                os.fsync(self.fd)
        finally:
            self._view.release()
            self._buf.close()
            os.close(self.fd)
            self.fd = -1

    def abandon(self) -> None:
        """Close without writing what is buffered (the write failed; the file is being removed)."""
        if self.fd < 0:
            return
        self._view.release()
        self._buf.close()
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> DirectWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.abandon()
