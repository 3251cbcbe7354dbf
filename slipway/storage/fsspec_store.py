"""Artifact stores over fsspec: the local file system now, any fsspec backend later."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import fsspec

from slipway.errors import NotFound
from slipway.storage.base import CHUNK, ArtifactStore, ObjectInfo, check_key, copy_hashing

__all__ = ["FileStore", "FsspecStore"]


class FsspecStore(ArtifactStore):
    """Objects under ``root`` of an fsspec file system. Object stores make each put atomic."""

    def __init__(self, url: str, fs: Any, root: str) -> None:
        self.url = url
        self.fs = fs
        self.root = root.rstrip("/")

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def put(self, key: str, src: BinaryIO) -> ObjectInfo:
        path = self._path(key)
        try:
            with self.fs.open(path, "wb") as out:
                size, sha = copy_hashing(src, out)
        except BaseException:
            if self.fs.exists(path):
                self.fs.rm(path)
            raise
        return ObjectInfo(key, size, sha)

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return self.fs.open(path, "rb")  # type: ignore[no-any-return]
        except FileNotFoundError:
            raise NotFound(f"Artifact {key!r} not found in {self.url}.", {"key": key}) from None

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def delete(self, key: str) -> None:
        path = self._path(key)
        if self.fs.exists(path):
            self.fs.rm(path)

    def list(self, prefix: str = "") -> list[str]:
        base = f"{self.root}/{prefix}".rstrip("/") if prefix else self.root
        if not self.fs.exists(base):
            return []
        if self.fs.isfile(base):
            return [prefix]
        found = self.fs.find(base)
        root = self.root + "/"
        return sorted(p.removeprefix(root) for p in found)

    def size(self, key: str) -> int:
        try:
            return int(self.fs.size(self._path(key)))
        except FileNotFoundError:
            raise NotFound(f"Artifact {key!r} not found in {self.url}.", {"key": key}) from None


class FileStore(FsspecStore):
    """``file://`` store: writes go to a temp file in the same folder, then rename (atomic)."""

    scheme = "file"

    def __init__(self, url: str) -> None:
        root = url.removeprefix("file://")
        Path(root).mkdir(parents=True, exist_ok=True)
        super().__init__(url, fsspec.filesystem("file"), str(Path(root).resolve()))
        self._tmp = Path(self.root) / ".tmp"
        self._tmp.mkdir(exist_ok=True)

    def put(self, key: str, src: BinaryIO) -> ObjectInfo:
        digest = hashlib.sha256()

        def blocks() -> Iterator[bytes]:
            while block := src.read(CHUNK):
                digest.update(block)
                yield block

        return ObjectInfo(key, self.put_chunks(key, blocks()), digest.hexdigest())

    def put_chunks(self, key: str, chunks: Iterable[bytes]) -> int:
        """Write the blocks as given (no re-cutting, no hash) to a temp file, fsync, rename into place."""
        final = Path(self._path(key))
        tmp = self._tmp / uuid.uuid4().hex
        size = 0
        try:
            with open(tmp, "wb", buffering=0) as out:
                for block in chunks:
                    view = memoryview(block)
                    while view:  # a raw write may be short
                        view = view[out.write(view):]
                    size += len(block)
                os.fsync(out.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return size

    def cleanup_partial(self, older_than: float) -> int:
        import time

        removed = 0
        now = time.time()
        for entry in self._tmp.iterdir():
            try:
                if now - entry.stat().st_mtime >= older_than:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise NotFound(f"Artifact {key!r} not found in {self.url}.", {"key": key}) from None

    def list(self, prefix: str = "") -> list[str]:
        return [k for k in super().list(prefix) if not k.startswith(".tmp/")]

    def delete(self, key: str) -> None:
        path = Path(self._path(key))
        path.unlink(missing_ok=True)
        # Prune folders left empty, up to the root.
        parent = path.parent
        while parent != Path(self.root) and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
