"""The artifact store contract every backend (file, S3, encrypted wrapper) fulfils.

Keys are relative POSIX paths ("datasets/cancer/1/data"). Writes stream in chunks and are
all-or-nothing: a failed or interrupted write leaves no object and no temporary bytes.
"""

from __future__ import annotations

import hashlib
import io
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from slipway.errors import InvalidArgument

__all__ = ["CHUNK", "ArtifactStore", "ObjectInfo", "check_key", "copy_hashing"]

CHUNK = 1024 * 1024
_KEY_PART = re.compile(r"^[A-Za-z0-9._@=+-][A-Za-z0-9._@=+ -]*$")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str


def check_key(key: str) -> str:
    """Reject keys that could escape the store's root (absolute, '..', odd characters)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") or not _KEY_PART.match(p) for p in parts):
        raise InvalidArgument(
            f"Artifact key {key!r} is not a safe relative path. Expected segments of letters, digits and ._@=+-.",
            {"field": "key", "value": key},
        )
    return key


def copy_hashing(src: BinaryIO, dest: BinaryIO, chunk: int = CHUNK) -> tuple[int, str]:
    """Copy ``src`` to ``dest`` in chunks; return (bytes copied, sha256 hex)."""
    digest = hashlib.sha256()
    size = 0
    while True:
        block = src.read(chunk)
        if not block:
            break
        digest.update(block)
        dest.write(block)
        size += len(block)
    return size, digest.hexdigest()


class ArtifactStore(ABC):
    """Byte-level object store. Meaning (datasets, models, logs) is layered on top by services."""

    url: str
    scheme: str = ""

    @abstractmethod
    def put(self, key: str, src: BinaryIO) -> ObjectInfo:
        """Stream ``src`` into ``key`` atomically; return its size and sha256 (of the bytes given)."""

    def put_chunks(self, key: str, chunks: Iterable[bytes]) -> int:
        """Store the concatenation of ``chunks`` under ``key`` atomically, as ``put`` does; return its size.

        For writers that make their bytes in blocks and know their digest already (the encrypting
        wrapper: the sha256 that matters is of the plaintext). This default feeds ``put`` (which hashes
        what it stores); a store that can write the blocks as given overrides it and skips that hash
        and the re-cutting of the blocks into fixed-size reads (the file store).
        """
        return self.put(key, _ChunksReader(iter(chunks))).size  # type: ignore[arg-type]

    def put_file(self, key: str, path: Path) -> ObjectInfo:
        with open(path, "rb") as f:
            return self.put(key, f)

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        import io

        return self.put(key, io.BytesIO(data))

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary stream over the object's bytes (caller closes it)."""

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def read_range(self, key: str, offset: int, limit: int) -> bytes:
        """Up to ``limit`` bytes from ``offset``. Streams are forward-only (encrypted ones cannot
        seek), so the bytes before ``offset`` are read and dropped in chunks; a seekable one (a local file)
        goes straight to ``offset``."""
        with self.open(key) as f:
            if f.seekable():
                f.seek(offset)
                return f.read(limit)
            skip = offset
            while skip > 0:
                block = f.read(min(skip, CHUNK))
                if not block:
                    return b""
                skip -= len(block)
            return f.read(limit)

    def iter_chunks(self, key: str, chunk: int = CHUNK) -> Iterator[bytes]:
        """The object's bytes in blocks. Opened now, so a missing key (or, encrypted, a wrong master key)
        fails before the first block is asked for, not in the middle of a streamed response."""
        f = self.open(key)

        def _gen() -> Iterator[bytes]:
            with f:
                while True:
                    block = f.read(chunk)
                    if not block:
                        return
                    yield block

        return _gen()

    def get_file(self, key: str, dest: Path) -> ObjectInfo:
        """Copy the object to a local file atomically."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        try:
            with self.open(key) as src, open(tmp, "wb") as out:
                size, sha = copy_hashing(src, out)
            tmp.replace(dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return ObjectInfo(key, size, sha)

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` (no error when it is already gone)."""

    def delete_prefix(self, prefix: str) -> None:
        for key in self.list(prefix):
            self.delete(key)

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix``, sorted."""

    @abstractmethod
    def size(self, key: str) -> int:
        """Stored size in bytes (of what the backend holds)."""

    def cleanup_partial(self, older_than: float) -> int:
        """Remove bytes of writes that never finished (a crash mid-put); return how many."""
        return 0

    def describe(self) -> str:
        return self.url


class _ChunksReader(io.RawIOBase):
    """An iterator of byte blocks as a readable stream. Reads may be short (at most the rest of one
    block), so a block is handed on whole, without a copy, when the reader asks for at least its size."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._cur: bytes = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            rest = [self._cur[self._pos:], *self._chunks]
            self._cur, self._pos = b"", 0
            return b"".join(rest)
        while self._pos >= len(self._cur):
            block = next(self._chunks, None)
            if block is None:
                return b""
            self._cur, self._pos = block, 0
        if self._pos == 0 and n >= len(self._cur):
            part = self._cur
        else:
            part = self._cur[self._pos:self._pos + n]
        self._pos += len(part)
        return part

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)
