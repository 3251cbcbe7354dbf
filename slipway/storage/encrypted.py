"""Encryption at rest as a wrapper around any artifact store (envelope encryption, streamed).

Each object gets its own random 256-bit data key. The object's bytes are stored as
``header | chunk_0 | chunk_1 | …`` where each chunk is AES-256-GCM over at most ``CHUNK`` plaintext
bytes, with a nonce made of a random prefix and the chunk number, and the object key, chunk number
and a last-chunk flag as associated data: chunks cannot be reordered, truncated, or moved to
another object. The data key, wrapped by the master key (``KeyRing``), is stored beside the
object under ``.keys/<key>``; rotating the master key rewrites only those small files.
The contract is unchanged: sizes and sha256 are of the plaintext; ``open()`` streams.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import struct
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from slipway.errors import InvalidArgument, NotFound
from slipway.storage.base import CHUNK, ArtifactStore, ObjectInfo, check_key
from slipway.storage.keyring import DecryptionFailed, KeyRing

__all__ = ["KEYS_PREFIX", "EncryptedStore"]

MAGIC = b"SWE1"
_HEADER = struct.Struct(">4sI8s")  # magic, plaintext chunk size, nonce prefix
TAG = 16
KEYS_PREFIX = ".keys/"


def _aad(key: str, index: int, final: bool) -> bytes:
    return key.encode() + struct.pack(">QB", index, 1 if final else 0)


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    """``n`` bytes, fewer only at the end of the stream (reads may return short)."""
    parts, want = [], n
    while want:
        block = stream.read(want)
        if not block:
            break
        parts.append(block)
        want -= len(block)
    return b"".join(parts)


class _ChunkReader(io.RawIOBase):
    """Serves ``read(n)`` from whole chunks made by ``_fill`` without re-copying the buffer."""

    _cur: bytes = b""
    _pos: int = 0
    _done: bool = False

    def _fill(self) -> None:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        parts = []
        want = -1 if n is None or n < 0 else n
        while want != 0:
            if self._pos >= len(self._cur):
                if self._done:
                    break
                self._fill()
                continue
            end = len(self._cur) if want < 0 else self._pos + want
            part = self._cur[self._pos : end]  # the whole chunk when aligned: no copy
            self._pos += len(part)
            if want > 0:
                want -= len(part)
            parts.append(part)
        return b"".join(parts)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class _Encrypting:
    """The ciphertext of a plaintext source as blocks: the header, then one sealed chunk per ``chunk``
    plaintext bytes, made in one pass that also hashes the plaintext (``digest``, ``size``).

    The source is read in large reads, so a pipe hands over its blocks whole; their bytes are gathered
    into one chunk-sized buffer, reused for every chunk, where each chunk is hashed and sealed (one copy
    of the plaintext in all, and no allocation that grows with the upload). A chunk is sealed only once a
    byte beyond it is known, or the source has ended: the last chunk carries the last-chunk flag (an
    empty source is one empty, last chunk).
    """

    def __init__(self, src: BinaryIO, key: str, data_key: bytes, chunk: int) -> None:
        self._src, self._key, self._chunk = src, key, chunk
        self._aead = AESGCM(data_key)
        self._prefix = secrets.token_bytes(8)
        self.digest = hashlib.sha256()
        self.size = 0

    def _seal(self, piece: object, index: int, final: bool) -> bytes:
        self.digest.update(piece)  # type: ignore[arg-type]
        return self._aead.encrypt(_nonce(self._prefix, index), piece, _aad(self._key, index, final))  # type: ignore[arg-type]

    def blocks(self) -> Iterator[bytes]:
        yield _HEADER.pack(MAGIC, self._chunk, self._prefix)
        chunk, read_size = self._chunk, max(4 * self._chunk, 1 << 22)
        buf = bytearray(chunk)  # one buffer for every chunk: no reallocation per chunk
        view, fill, index = memoryview(buf), 0, 0
        pending = memoryview(b"")  # the unread rest of the source's current block
        ended = False
        while True:
            while fill < chunk and not ended:
                if not pending:
                    block = self._src.read(read_size)
                    if not block:
                        ended = True
                        break
                    pending = memoryview(block)
                take = min(chunk - fill, len(pending))
                view[fill:fill + take] = pending[:take]
                fill, pending = fill + take, pending[take:]
            if not pending and not ended:  # a full chunk: is anything left after it?
                block = self._src.read(read_size)
                if block:
                    pending = memoryview(block)
                else:
                    ended = True
            final = ended and not pending
            with view[:fill] as piece:
                sealed = self._seal(piece, index, final)
            self.size += fill
            fill, index = 0, index + 1
            yield sealed
            if final:
                return


class _Decrypting(_ChunkReader):
    """A readable stream of plaintext over a stored ciphertext stream; fails on any tampering."""

    def __init__(self, raw: BinaryIO, key: str, data_key: bytes) -> None:
        self._raw, self._key = raw, key
        header = raw.read(_HEADER.size)
        try:
            magic, self._chunk, self._prefix = _HEADER.unpack(header)
        except struct.error:
            magic = b""
        if magic != MAGIC:
            raw.close()
            raise DecryptionFailed(f"Artifact {key!r} is not in Slipway's encrypted format (damaged or foreign file).")
        self._aead = AESGCM(data_key)
        self._index = 0
        self._next = _read_exactly(self._raw, self._chunk + TAG)

    def _fill(self) -> None:
        sealed = self._next
        self._next = _read_exactly(self._raw, self._chunk + TAG) if len(sealed) == self._chunk + TAG else b""
        final = not self._next
        try:
            self._cur = self._aead.decrypt(_nonce(self._prefix, self._index), sealed, _aad(self._key, self._index, final))
            self._pos = 0
        except InvalidTag:
            raise DecryptionFailed(
                f"Artifact {self._key!r} failed authentication at chunk {self._index}: the stored bytes were "
                "tampered with, truncated or damaged.",
                {"key": self._key, "chunk": self._index},
            ) from None
        self._index += 1
        self._done = final

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class EncryptedStore(ArtifactStore):
    """Wraps ``inner``: everything written is encrypted, everything read is decrypted and verified."""

    def __init__(self, inner: ArtifactStore, keyring: KeyRing, chunk: int = CHUNK) -> None:
        self.inner = inner
        self.keyring = keyring
        self.chunk = chunk
        self.url = inner.url
        self.scheme = inner.scheme

    @staticmethod
    def _key_path(key: str) -> str:
        return KEYS_PREFIX + check_key(key)

    def put(self, key: str, src: BinaryIO) -> ObjectInfo:
        check_key(key)
        if key.startswith(KEYS_PREFIX):
            raise InvalidArgument(f"Artifact key {key!r} is reserved: {KEYS_PREFIX} holds wrapped data keys.",
                                  {"field": "key", "value": key})
        data_key = AESGCM.generate_key(bit_length=256)
        stream = _Encrypting(src, key, data_key, self.chunk)
        self.inner.put_chunks(key, stream.blocks())
        try:
            self.inner.put_bytes(self._key_path(key), self.keyring.wrap(data_key, key.encode()))
        except BaseException:
            self.inner.delete(key)
            raise
        return ObjectInfo(key, stream.size, stream.digest.hexdigest())

    def _data_key(self, key: str) -> bytes:
        try:
            wrapped = self.inner.read_bytes(self._key_path(key))
        except NotFound:
            if self.inner.exists(key):
                raise DecryptionFailed(f"Artifact {key!r} has no data key in {self.url}; it cannot be decrypted.") from None
            raise NotFound(f"Artifact {key!r} not found in {self.url}.", {"key": key}) from None
        return self.keyring.unwrap(wrapped, key.encode(), f"Artifact {key!r}")

    def open(self, key: str) -> BinaryIO:
        data_key = self._data_key(key)
        return _Decrypting(self.inner.open(key), key, data_key)  # type: ignore[return-value]

    def read_range(self, key: str, offset: int, limit: int) -> bytes:
        """Fetch and decrypt only the chunks that hold the range: one ranged read of the inner store
        (a ranged GET on S3) instead of every byte before ``offset``, as following a log needs."""
        if limit <= 0:
            return b""
        data_key = self._data_key(key)
        try:
            magic, chunk, prefix = _HEADER.unpack(self.inner.read_range(key, 0, _HEADER.size))
        except struct.error:
            magic, chunk, prefix = b"", 0, b""
        if magic != MAGIC or chunk <= 0:
            raise DecryptionFailed(f"Artifact {key!r} is not in Slipway's encrypted format (damaged or foreign file).")
        sealed = chunk + TAG
        chunks = max(1, -(-(self.inner.size(key) - _HEADER.size) // sealed))
        first, last = offset // chunk, min(chunks - 1, (offset + limit - 1) // chunk)
        if first >= chunks:
            return b""
        raw = self.inner.read_range(key, _HEADER.size + first * sealed, (last - first + 1) * sealed)
        aead, plain = AESGCM(data_key), []
        for index in range(first, last + 1):
            part = raw[(index - first) * sealed:(index - first + 1) * sealed]
            try:
                plain.append(aead.decrypt(_nonce(prefix, index), part, _aad(key, index, index == chunks - 1)))
            except InvalidTag:
                raise DecryptionFailed(
                    f"Artifact {key!r} failed authentication at chunk {index}: the stored bytes were "
                    "tampered with, truncated or damaged.",
                    {"key": key, "chunk": index},
                ) from None
        start = offset - first * chunk
        return b"".join(plain)[start:start + limit]

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)
        self.inner.delete(self._key_path(key))

    def list(self, prefix: str = "") -> list[str]:
        return [k for k in self.inner.list(prefix) if not k.startswith(KEYS_PREFIX)]

    def size(self, key: str) -> int:
        stored = self.inner.size(key) - _HEADER.size
        chunks = max(1, -(-stored // (self.chunk + TAG)))
        return stored - chunks * TAG

    def cleanup_partial(self, older_than: float) -> int:
        return self.inner.cleanup_partial(older_than)

    def describe(self) -> str:
        return f"{self.inner.describe()} (encrypted: AES-256-GCM, master key {self.keyring.current})"

    def rewrap_all(self) -> int:
        """Re-wrap every data key under the keyring's current master key; the data is not touched."""
        count = 0
        for path in self.inner.list(KEYS_PREFIX.rstrip("/")):
            key = path.removeprefix(KEYS_PREFIX)
            wrapped = self.inner.read_bytes(path)
            if self.keyring.wrapped_by(wrapped) == self.keyring.current:
                continue
            self.inner.put_bytes(path, self.keyring.rewrap(wrapped, key.encode(), f"Artifact {key!r}"))
            count += 1
        return count
