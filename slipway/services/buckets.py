"""Buckets and objects for the S3 protocol, over the artifact store (so encrypted at rest like every artifact).

An object ``s3://bucket/key`` lives at :func:`object_key` in the store; a row in ``s3_objects`` holds
what S3 answers about it (size, ETag, content type, time). Multipart parts are artifacts under
``s3-uploads/<upload id>/<part>`` until the upload completes into one object.

Failures are :class:`BucketError` (Slipway errors: NotFound, Conflict, InvalidArgument) carrying the S3 error
code in ``s3_code``; the S3 protocol (slipway.compat) answers with that code and the error's status.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from slipway.db import Database, utcnow
from slipway.db.models import S3Bucket, S3Object, S3Upload, S3UploadPart
from slipway.errors import Conflict, InvalidArgument, NotFound, SlipwayError
from slipway.storage.base import ArtifactStore, check_key

__all__ = ["BucketConflict", "BucketError", "BucketInvalid", "BucketNotFound", "BucketRangeInvalid", "BucketService",
           "ObjectMeta", "check_bucket", "check_object_key", "object_key"]

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
UPLOADS = "s3-uploads"
MAX_PARTS = 10000


S3_PREFIX = "s3"


def object_key(bucket: str, key: str) -> str:
    """The artifact-store key holding the S3 object ``s3://bucket/key``."""
    return f"{S3_PREFIX}/{bucket}/{key}"


class BucketError(SlipwayError):
    """A bucket or object failure; ``s3_code`` is the S3 error code it stands for (``NoSuchBucket``,
    ``NoSuchKey``…), which the S3 protocol answers with, under the error's ``status_code``."""

    def __init__(self, s3_code: str, message: str) -> None:
        super().__init__(message, {"s3_code": s3_code})
        self.s3_code = s3_code


class BucketNotFound(BucketError, NotFound):
    """404: NoSuchBucket, NoSuchKey, NoSuchUpload."""


class BucketConflict(BucketError, Conflict):
    """409: BucketAlreadyOwnedByYou, BucketNotEmpty."""


class BucketInvalid(BucketError, InvalidArgument):
    """400: InvalidBucketName, KeyTooLongError, InvalidArgument, MalformedXML, InvalidPartOrder, InvalidPart."""


class BucketRangeInvalid(BucketError, InvalidArgument):
    """416: InvalidRange (a byte range outside the object)."""

    status_code = 416


@dataclass(frozen=True)
class ObjectMeta:
    bucket: str
    key: str
    size: int
    etag: str  # quoted, as S3 sends it
    content_type: str
    modified_at: dt.datetime


def check_bucket(name: str) -> str:
    if not _BUCKET.match(name) or ".." in name:
        raise BucketInvalid("InvalidBucketName", f"Bucket name {name[:80]!r} is not valid: 3-63 lower-case letters, "
                            "digits, '.' and '-', starting and ending with a letter or digit.")
    return name


def check_object_key(key: str) -> str:
    """Slipway's store takes keys of path segments of letters, digits, space and ``._@=+-``."""
    if len(key.encode()) > 1024:
        raise BucketInvalid("KeyTooLongError", "Object keys are at most 1024 bytes.")
    try:
        check_key(key)
    except Exception:
        raise BucketInvalid("InvalidArgument", f"Object key {key[:200]!r} is not supported by Slipway's store: use "
                            "'/'-separated segments of letters, digits, spaces and ._@=+- (no empty, '.' or '..' "
                            "segment).") from None
    return key


def _meta(r: S3Object) -> ObjectMeta:
    return ObjectMeta(r.bucket, r.key, r.size, f'"{r.etag}"', r.content_type, r.modified_at)


class BucketReader(Protocol):
    """What a copy reads from: a bucket (:class:`BucketService`) or the dataset view (DatasetBucket)."""

    def head(self, bucket: str, key: str) -> ObjectMeta: ...

    def open(self, bucket: str, key: str) -> tuple[ObjectMeta, Iterator[bytes]]: ...

    def read_range(self, bucket: str, key: str, offset: int, limit: int) -> bytes: ...


class _Concat(io.RawIOBase):
    """One forward-only stream over several store objects, in order (completing a multipart upload)."""

    def __init__(self, store: ArtifactStore, keys: list[str]) -> None:
        self.store, self.keys, self.current = store, list(keys), None

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        while True:
            if self.current is None:
                if not self.keys:
                    return 0
                self.current = self.store.open(self.keys.pop(0))
            data = self.current.read(len(b))
            if data:
                b[:len(data)] = data
                return len(data)
            self.current.close()
            self.current = None


class _Hashing(io.RawIOBase):
    """A readable stream over an iterator of byte blocks, hashing (MD5) what passes (copying an object)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.buf, self.md5 = chunks, b"", hashlib.md5(usedforsecurity=False)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        while not self.buf:
            block = next(self.chunks, None)
            if block is None:
                return 0
            self.buf = block
        n = min(len(b), len(self.buf))
        b[:n], self.buf = self.buf[:n], self.buf[n:]
        self.md5.update(b[:n])
        return n


class BucketService:
    def __init__(self, db: Database, store: ArtifactStore) -> None:
        self.db = db
        self.store = store

    # -- buckets -------------------------------------------------------------------------------

    def create_bucket(self, name: str, user: str) -> None:
        check_bucket(name)
        try:
            with self.db.session() as s:
                s.add(S3Bucket(name=name, created_by=user))
        except IntegrityError:
            raise BucketConflict("BucketAlreadyOwnedByYou", f"Bucket {name!r} already exists.") from None

    def bucket(self, name: str) -> S3Bucket:
        check_bucket(name)
        with self.db.session() as s:
            row = s.execute(select(S3Bucket).where(S3Bucket.name == name)).scalar_one_or_none()
            if row is None:
                raise BucketNotFound("NoSuchBucket", f"Bucket {name!r} does not exist. Create it with create_bucket.")
            s.expunge(row)
            return row

    def list_buckets(self) -> list[S3Bucket]:
        with self.db.session() as s:
            rows = list(s.execute(select(S3Bucket).order_by(S3Bucket.name)).scalars())
            for r in rows:
                s.expunge(r)
            return rows

    def delete_bucket(self, name: str) -> None:
        self.bucket(name)
        with self.db.session() as s:
            if s.execute(select(S3Object.id).where(S3Object.bucket == name).limit(1)).first() is not None:
                raise BucketConflict("BucketNotEmpty", f"Bucket {name!r} is not empty. Delete its objects first.")
            s.execute(S3Bucket.__table__.delete().where(S3Bucket.name == name))

    # -- objects -------------------------------------------------------------------------------

    def put(self, bucket: str, key: str, src: BinaryIO, md5: str, content_type: str, user: str) -> ObjectMeta:
        """Store ``src`` (already checked against the client's checksums) as ``s3://bucket/key``."""
        self.bucket(bucket)
        check_object_key(key)
        info = self.store.put(object_key(bucket, key), src)
        return self._record(bucket, key, info.size, md5, content_type, user)

    def _record(self, bucket: str, key: str, size: int, etag: str, content_type: str, user: str) -> ObjectMeta:
        for _ in range(2):
            try:
                with self.db.session() as s:
                    row = s.execute(select(S3Object).where(S3Object.bucket == bucket, S3Object.key == key)
                                    ).scalar_one_or_none()
                    if row is None:
                        row = S3Object(bucket=bucket, key=key)
                        s.add(row)
                    row.size, row.etag, row.content_type = size, etag, content_type or "binary/octet-stream"
                    row.modified_at, row.modified_by = utcnow(), user
                    s.flush()
                    return _meta(row)
            except IntegrityError:  # written concurrently: the second pass updates it
                continue
        raise AssertionError("unreachable")

    def copy(self, source: BucketReader, src_bucket: str, src_key: str, bucket: str, key: str,
             content_type: str | None, user: str) -> ObjectMeta:
        """CopyObject: ``source``'s object (a bucket's or a dataset version's) streamed to ``bucket/key``; its
        content type kept unless ``content_type`` replaces it (x-amz-metadata-directive REPLACE)."""
        self.bucket(bucket)
        check_object_key(key)
        if isinstance(source, BucketService) and (src_bucket, src_key) == (bucket, key):
            meta = self.head(bucket, key)  # onto itself (REPLACE): only the metadata changes
            return self._record(bucket, key, meta.size, meta.etag.strip('"'),
                                meta.content_type if content_type is None else content_type, user)
        meta, chunks = source.open(src_bucket, src_key)
        stream = _Hashing(iter(chunks))
        info = self.store.put(object_key(bucket, key), stream)  # type: ignore[arg-type]
        return self._record(bucket, key, info.size, stream.md5.hexdigest(),
                            meta.content_type if content_type is None else content_type, user)

    def copy_part(self, source: BucketReader, src_bucket: str, src_key: str, bucket: str, key: str, upload_id: str,
                  number: int, span: tuple[int, int] | None) -> tuple[str, dt.datetime]:
        """UploadPartCopy: the source object, or bytes ``span`` (first, last) of it, as part ``number``."""
        self._upload(bucket, key, upload_id)
        meta = source.head(src_bucket, src_key)
        if span is None:
            chunks: Iterator[bytes] = iter(source.open(src_bucket, src_key)[1])
        else:
            first, last = span
            if last >= meta.size:
                raise BucketRangeInvalid("InvalidRange", f"x-amz-copy-source-range bytes={first}-{last} is outside "
                                         f"the source object of {meta.size} bytes.")
            chunks = iter([source.read_range(src_bucket, src_key, first, last - first + 1)])
        stream = _Hashing(chunks)
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            shutil.copyfileobj(stream, spool)  # type: ignore[misc]
            spool.seek(0)
            etag = self.put_part(bucket, key, upload_id, number, spool, stream.md5.hexdigest())  # type: ignore[arg-type]
        return etag, meta.modified_at

    def head(self, bucket: str, key: str) -> ObjectMeta:
        with self.db.session() as s:
            row = s.execute(select(S3Object).where(S3Object.bucket == bucket, S3Object.key == key)).scalar_one_or_none()
            meta = _meta(row) if row is not None else None
        if meta is None:
            self.bucket(bucket)  # NoSuchBucket first
            raise BucketNotFound("NoSuchKey", f"The key {key[:200]!r} does not exist in bucket {bucket!r}.")
        return meta

    def open(self, bucket: str, key: str) -> tuple[ObjectMeta, Iterator[bytes]]:
        meta = self.head(bucket, key)
        return meta, self.store.iter_chunks(object_key(bucket, key))

    def read_range(self, bucket: str, key: str, offset: int, limit: int) -> bytes:
        return self.store.read_range(object_key(bucket, key), offset, limit)

    def delete(self, bucket: str, key: str) -> None:
        self.bucket(bucket)
        with self.db.session() as s:
            s.execute(S3Object.__table__.delete().where(S3Object.bucket == bucket, S3Object.key == key))
        try:
            check_object_key(key)
        except BucketError:
            return  # it cannot exist: deleting a missing key succeeds, as in S3
        self.store.delete(object_key(bucket, key))

    def list(self, bucket: str, prefix: str, after: str, limit: int) -> list[ObjectMeta]:
        """Objects with keys starting with ``prefix``, after ``after``, in key order, at most ``limit``."""
        with self.db.session() as s:
            q = (select(S3Object).where(S3Object.bucket == bucket, S3Object.key > after, S3Object.key >= prefix)
                 .order_by(S3Object.key).limit(limit))
            rows = [r for r in s.execute(q).scalars()]
            return [_meta(r) for r in rows if r.key.startswith(prefix)]

    # -- multipart -----------------------------------------------------------------------------

    def create_upload(self, bucket: str, key: str, content_type: str, user: str) -> str:
        self.bucket(bucket)
        check_object_key(key)
        upload_id = secrets.token_hex(16)
        with self.db.session() as s:
            s.add(S3Upload(upload_id=upload_id, bucket=bucket, key=key, content_type=content_type, created_by=user))
        return upload_id

    def _upload(self, bucket: str, key: str, upload_id: str) -> S3Upload:
        with self.db.session() as s:
            row = s.execute(select(S3Upload).where(S3Upload.upload_id == upload_id)).scalar_one_or_none()
            if row is None or row.bucket != bucket or row.key != key:
                raise BucketNotFound("NoSuchUpload", f"Upload {upload_id[:64]!r} does not exist for "
                                     f"{bucket}/{key[:200]}: it was completed, aborted or never created.")
            s.expunge(row)
            return row

    def put_part(self, bucket: str, key: str, upload_id: str, number: int, src: BinaryIO, md5: str) -> str:
        self._upload(bucket, key, upload_id)
        if not 1 <= number <= MAX_PARTS:
            raise BucketInvalid("InvalidArgument", f"Part number must be an integer between 1 and {MAX_PARTS}, "
                                f"not {number}.")
        info = self.store.put(f"{UPLOADS}/{upload_id}/{number:05d}", src)
        with self.db.session() as s:
            s.execute(S3UploadPart.__table__.delete().where(S3UploadPart.upload_id == upload_id,
                                                            S3UploadPart.number == number))
            s.add(S3UploadPart(upload_id=upload_id, number=number, size=info.size, etag=md5))
        return f'"{md5}"'

    def complete(self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]], user: str) -> ObjectMeta:
        upload = self._upload(bucket, key, upload_id)
        with self.db.session() as s:
            stored = {p.number: p.etag for p in s.execute(
                select(S3UploadPart).where(S3UploadPart.upload_id == upload_id)).scalars()}
        if not parts:
            raise BucketInvalid("MalformedXML", "CompleteMultipartUpload lists no parts.")
        numbers = [n for n, _ in parts]
        if numbers != sorted(set(numbers)):
            raise BucketInvalid("InvalidPartOrder",
                                "The parts must be listed in ascending order of part number, once each.")
        for n, etag in parts:
            if stored.get(n) != etag.strip('"'):
                raise BucketInvalid("InvalidPart", f"Part {n} was not uploaded, or its ETag is not {etag[:40]}.")
        digest = hashlib.md5(b"".join(bytes.fromhex(stored[n]) for n in numbers), usedforsecurity=False)
        etag = f"{digest.hexdigest()}-{len(numbers)}"
        keys = [f"{UPLOADS}/{upload_id}/{n:05d}" for n in numbers]
        info = self.store.put(object_key(bucket, key), _Concat(self.store, keys))  # type: ignore[arg-type]
        meta = self._record(bucket, key, info.size, etag, upload.content_type, user)
        self._drop_upload(upload_id)
        return meta

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        self._upload(bucket, key, upload_id)
        self._drop_upload(upload_id)

    def _drop_upload(self, upload_id: str) -> None:
        with self.db.session() as s:
            s.execute(S3UploadPart.__table__.delete().where(S3UploadPart.upload_id == upload_id))
            s.execute(S3Upload.__table__.delete().where(S3Upload.upload_id == upload_id))
        self.store.delete_prefix(f"{UPLOADS}/{upload_id}/")
