"""Dataset versions as a read-only S3 bucket: ``s3://slipway-datasets/<dataset>/<version>/<file>``.

A file version is one object, ``<dataset>/<version>/<its filename>``; a folder version (stored as an
uncompressed tar) is one object per regular file in it, ``<dataset>/<version>/<path in the folder>``.
Bytes are read through the artifact store, so decrypted as a dataset pull decrypts them. Versions
are immutable, so where each file lies in a folder's tar is read once per process and kept
(:data:`_MEMBERS`, a small LRU). The same read methods as :class:`~slipway.services.buckets.BucketService`
(``head``, ``open``, ``read_range``, ``list``), so the S3 protocol serves both alike.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import tarfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select

from slipway.db import Database
from slipway.db.models import Dataset, DatasetVersion
from slipway.services.buckets import BucketNotFound, ObjectMeta
from slipway.storage.base import CHUNK, ArtifactStore

__all__ = ["DATASETS_BUCKET", "DatasetBucket", "dataset_of", "ref_of_prefix"]

DATASETS_BUCKET = "slipway-datasets"
_VERSION_PREFIX = re.compile(r"^([^/]+)/(\d+)/?$")
_MEMBERS: OrderedDict[str, list[tuple[str, int, int]]] = OrderedDict()  # storage key -> (path, offset, size)
_MEMBERS_MAX = 64
_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Obj:
    meta: ObjectMeta
    storage_key: str
    offset: int  # of the bytes in the stored artifact (a folder's tar)


def dataset_of(key_or_prefix: str) -> str | None:
    """The dataset a key (or a prefix with a '/') is in; None for a prefix that may span several."""
    name, slash, _ = key_or_prefix.partition("/")
    return name if slash and name else None


def ref_of_prefix(prefix: str) -> str | None:
    """``iris/3`` or ``iris/3/`` -> ``iris:3`` (a whole version, as a training channel names it)."""
    m = _VERSION_PREFIX.match(prefix)
    return f"{m.group(1)}:{m.group(2)}" if m else None


def _members(store: ArtifactStore, key: str) -> list[tuple[str, int, int]]:
    with _LOCK:
        hit = _MEMBERS.get(key)
        if hit is not None:
            _MEMBERS.move_to_end(key)
            return hit
    out = []
    with store.open(key) as f, tarfile.open(fileobj=f, mode="r|") as tar:
        for m in tar:
            if m.isreg():
                out.append((m.name, m.offset_data, m.size))
    out.sort()
    with _LOCK:
        _MEMBERS[key] = out
        while len(_MEMBERS) > _MEMBERS_MAX:
            _MEMBERS.popitem(last=False)
    return out


class DatasetBucket:
    """Read-only S3 objects over dataset versions (the bucket :data:`DATASETS_BUCKET`)."""

    def __init__(self, db: Database, store: ArtifactStore) -> None:
        self.db = db
        self.store = store

    def bucket(self, name: str) -> None:
        return None

    def _objects(self, v: DatasetVersion, name: str) -> list[_Obj]:
        base = f"{name}/{v.version}/"
        if v.kind != "folder":
            meta = ObjectMeta(DATASETS_BUCKET, base + v.filename, v.size, f'"{v.sha256[:32]}"',
                              mimetypes.guess_type(v.filename)[0] or "binary/octet-stream", v.created_at)
            return [_Obj(meta, v.storage_key, 0)]
        out = []
        for path, offset, size in _members(self.store, v.storage_key):
            etag = hashlib.md5(f"{v.sha256}/{path}".encode(), usedforsecurity=False).hexdigest()
            meta = ObjectMeta(DATASETS_BUCKET, base + path, size, f'"{etag}"',
                              mimetypes.guess_type(path)[0] or "binary/octet-stream", v.created_at)
            out.append(_Obj(meta, v.storage_key, offset))
        return out

    def _find(self, key: str) -> _Obj:
        m = re.match(r"^([^/]+)/(\d+)/(.+)$", key)
        if m:
            with self.db.session() as s:
                v = s.execute(select(DatasetVersion).join(Dataset).where(
                    Dataset.name == m.group(1), DatasetVersion.version == int(m.group(2)))).scalar_one_or_none()
                if v is not None:
                    s.expunge(v)
            if v is not None:
                for obj in self._objects(v, m.group(1)):
                    if obj.meta.key == key:
                        return obj
        raise BucketNotFound("NoSuchKey", f"The key {key[:200]!r} does not exist in bucket {DATASETS_BUCKET!r}: its "
                             "keys are <dataset>/<version>/<file> (a folder version's files by their paths in it).")

    def head(self, bucket: str, key: str) -> ObjectMeta:
        return self._find(key).meta

    def open(self, bucket: str, key: str) -> tuple[ObjectMeta, Iterator[bytes]]:
        obj = self._find(key)
        return obj.meta, self._chunks(obj)

    def _chunks(self, obj: _Obj) -> Iterator[bytes]:
        with self.store.open(obj.storage_key) as f:
            skip = obj.offset
            while skip > 0:
                block = f.read(min(skip, CHUNK))
                if not block:
                    return
                skip -= len(block)
            left = obj.meta.size
            while left > 0:
                block = f.read(min(left, CHUNK))
                if not block:
                    return
                left -= len(block)
                yield block

    def read_range(self, bucket: str, key: str, offset: int, limit: int) -> bytes:
        obj = self._find(key)
        return self.store.read_range(obj.storage_key, obj.offset + offset, min(limit, obj.meta.size - offset))

    def list(self, bucket: str, prefix: str, after: str, limit: int) -> list[ObjectMeta]:
        """Objects with keys starting with ``prefix``, after ``after``, in key order, at most ``limit``."""
        name = dataset_of(prefix)
        with self.db.session() as s:
            q = select(Dataset.name, DatasetVersion).join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
            if name is not None:
                q = q.where(Dataset.name == name)
            rows = [(n, v) for n, v in s.execute(q).all()]
            for _, v in rows:
                s.expunge(v)
        metas: list[ObjectMeta] = []
        for n, v in rows:
            base = f"{n}/{v.version}/"
            if not (base.startswith(prefix) or prefix.startswith(base)):
                continue
            if v.kind != "folder" and base + v.filename <= after:
                continue
            metas.extend(o.meta for o in self._objects(v, n))
        return sorted((m for m in metas if m.key.startswith(prefix) and m.key > after), key=lambda m: m.key)[:limit]
