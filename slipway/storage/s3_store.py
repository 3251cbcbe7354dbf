"""``s3://bucket/prefix`` artifact store over boto3: Amazon S3 or any S3-compatible service.

boto3 rather than s3fs: s3fs runs on aiobotocore and an event loop of its own, and its write
files buffer whole blocks behind an fsspec cache whose failure paths leave half-finished
multipart uploads; with boto3 the store owns the multipart protocol outright (parts uploaded
while the next is read, aborted on any failure) in about the same number of lines.

Writes are all-or-nothing because S3 makes an object visible only when its single PUT or its
multipart upload completes; a failed write aborts the upload, and ``cleanup_partial`` aborts the
uploads of a crashed server. Encryption at rest stays Slipway's: ``EncryptedStore`` wraps this.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from slipway.errors import InvalidArgument, NotFound, Unauthorized, Unavailable
from slipway.storage.base import CHUNK, ArtifactStore, ObjectInfo, check_key

if TYPE_CHECKING:
    from slipway.settings import Settings

__all__ = ["S3Store"]

PART = 8 * 1024 * 1024  # S3's smallest part is 5 MiB; 8 MiB is what the AWS CLI uses
PARTS_IN_FLIGHT = 4  # parts uploading while the next is read: bounds memory to ~40 MB per put
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId",
           "ExpiredToken", "InvalidToken", "403"}
_MISSING = {"NoSuchKey", "404", "NotFound"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Store(ArtifactStore):
    """Objects under ``prefix`` of ``bucket``; the bucket must exist (checked when the store opens)."""

    scheme = "s3"

    def __init__(self, url: str, endpoint_url: str = "", region: str = "", access_key_id: str = "",
                 secret_access_key: str = "", check: bool = True) -> None:
        rest = url.removeprefix("s3://")
        bucket, _, prefix = rest.partition("/")
        if not url.startswith("s3://") or not bucket:
            raise InvalidArgument(
                f"Setting 'artifact_url' has value {url!r}. Expected s3://BUCKET or s3://BUCKET/PREFIX.",
                {"field": "artifact_url", "value": url},
            )
        self.url = url
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url or None
        session = boto3.session.Session(
            aws_access_key_id=access_key_id or None, aws_secret_access_key=secret_access_key or None,
            region_name=region or None,
        )
        self.client: Any = session.client(
            "s3", endpoint_url=self.endpoint_url,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                          max_pool_connections=PARTS_IN_FLIGHT * 4, s3={"addressing_style": "path"},
                          # No CRC32 of every part sent and received (botocore's default since 1.36): the
                          # platform's envelope encryption authenticates every chunk (AES-GCM) on read, and
                          # SigV4 signs the payload over plain HTTP; the checksums cost ~0.5 CPU-s per GB of
                          # puts (bench/s3_store.py --direct, docs/benchmarks.md).
                          request_checksum_calculation="when_required", response_checksum_validation="when_required"),
        )
        self.endpoint = str(self.client.meta.endpoint_url)
        self._pool = ThreadPoolExecutor(max_workers=PARTS_IN_FLIGHT, thread_name_prefix="s3-part")
        if check:
            self.check()

    @classmethod
    def from_settings(cls, url: str, settings: Settings) -> S3Store:
        return cls(url, settings.s3_endpoint_url, settings.s3_region, settings.s3_access_key_id,
                   settings.s3_secret_access_key)

    # -- errors ----------------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.url} (endpoint {self.endpoint})"

    def _translate(self, exc: Exception, key: str | None = None) -> Exception:
        """A Slipway error for a boto3 failure; never includes credentials (boto3 messages do not)."""
        if isinstance(exc, ClientError):
            code = _code(exc)
            if key is not None and code in _MISSING:
                return NotFound(f"Artifact {key!r} not found in {self.url}.", {"key": key})
            if code in _DENIED:
                return Unauthorized(
                    f"The S3 service at {self.endpoint} refused the credentials for bucket {self.bucket!r} ({code}). "
                    "Check s3_access_key_id / s3_secret_access_key (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
                    "~/.aws/credentials) and that they may read and write the bucket.",
                    {"field": "artifact_url", "value": self.url, "code": code},
                )
            if code == "NoSuchBucket":
                return NotFound(
                    f"The S3 bucket {self.bucket!r} does not exist at {self.endpoint}. Create it (for example "
                    f"`aws s3 mb s3://{self.bucket}`) or fix setting 'artifact_url' ({self.url}).",
                    {"field": "artifact_url", "value": self.url},
                )
            return Unavailable(f"The S3 service at {self.endpoint} failed for {self.url}: {code} "
                               f"{exc.response.get('Error', {}).get('Message', '')}".rstrip())
        if isinstance(exc, NoCredentialsError):
            return Unauthorized(
                f"No S3 credentials for {self.url}: set s3_access_key_id and s3_secret_access_key, or "
                "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or ~/.aws/credentials.",
                {"field": "artifact_url", "value": self.url},
            )
        if isinstance(exc, EndpointConnectionError):
            return Unavailable(
                f"Cannot reach the S3 service at {self.endpoint} for artifact store {self.url}. Check that it is "
                "running and that setting 's3_endpoint_url' (or AWS_ENDPOINT_URL) names its address.",
                {"field": "s3_endpoint_url", "value": self.endpoint},
            )
        if isinstance(exc, BotoCoreError):
            return Unavailable(f"The S3 service at {self.endpoint} failed for {self.url}: {exc}")
        return exc

    def check(self) -> None:
        """Fail at start, with what to check, when the service, the credentials or the bucket are wrong."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchBucket"):
                exc.response["Error"]["Code"] = "NoSuchBucket"
            raise self._translate(exc) from None
        except (BotoCoreError, NoCredentialsError) as exc:
            raise self._translate(exc) from None

    # -- the contract ----------------------------------------------------------------------------

    def _path(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _key(self, path: str) -> str:
        return path[len(self.prefix) + 1:] if self.prefix else path

    def put(self, key: str, src: BinaryIO) -> ObjectInfo:
        path = self._path(key)
        digest = hashlib.sha256()
        size = 0
        first = _read_part(src)
        digest.update(first)
        size += len(first)
        if len(first) < PART:  # one request: nothing to abort
            try:
                self.client.put_object(Bucket=self.bucket, Key=path, Body=first)
            except (ClientError, BotoCoreError) as exc:
                raise self._translate(exc) from None
            return ObjectInfo(key, size, digest.hexdigest())
        try:
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=path)["UploadId"]
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc) from None
        pending: list[Future[dict[str, Any]]] = []
        try:
            block, number = first, 1
            while block:
                if len(pending) - sum(f.done() for f in pending) >= PARTS_IN_FLIGHT:
                    pending[-PARTS_IN_FLIGHT].result()  # back-pressure: wait for the oldest in flight
                pending.append(self._pool.submit(self._upload_part, path, upload_id, number, block))
                block = _read_part(src)
                digest.update(block)
                size += len(block)
                number += 1
            parts = [f.result() for f in pending]
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=path, UploadId=upload_id,
                                                  MultipartUpload={"Parts": parts})
        except BaseException as exc:
            for f in pending:
                f.cancel()
            for f in pending:
                if not f.cancelled():
                    f.exception()  # wait: a part finishing after the abort would leave bytes behind
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=path, UploadId=upload_id)
            except (ClientError, BotoCoreError):
                pass  # cleanup_partial aborts it later
            if isinstance(exc, (ClientError, BotoCoreError)):
                raise self._translate(exc) from None
            raise
        return ObjectInfo(key, size, digest.hexdigest())

    def _upload_part(self, path: str, upload_id: str, number: int, block: bytes) -> dict[str, Any]:
        r = self.client.upload_part(Bucket=self.bucket, Key=path, UploadId=upload_id, PartNumber=number, Body=block)
        return {"PartNumber": number, "ETag": r["ETag"]}

    def open(self, key: str) -> BinaryIO:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._path(key))["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, key) from None
        return io.BufferedReader(_BodyReader(body), buffer_size=CHUNK)  # type: ignore[arg-type]

    def read_range(self, key: str, offset: int, limit: int) -> bytes:
        """One ranged GET: only the bytes asked for cross the network."""
        if limit <= 0:
            return b""
        try:
            r = self.client.get_object(Bucket=self.bucket, Key=self._path(key), Range=f"bytes={offset}-{offset + limit - 1}")
        except ClientError as exc:
            if _code(exc) == "InvalidRange":  # offset at or past the end
                if self.exists(key):
                    return b""
            raise self._translate(exc, key) from None
        except BotoCoreError as exc:
            raise self._translate(exc, key) from None
        with r["Body"] as body:
            data: bytes = body.read()
        return data

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._path(key))
            return True
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise self._translate(exc) from None
        except BotoCoreError as exc:
            raise self._translate(exc) from None

    def size(self, key: str) -> int:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._path(key))["ContentLength"])
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, key) from None

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._path(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc) from None

    def list(self, prefix: str = "") -> list[str]:
        """Keys equal to ``prefix`` or below it as a folder (``a`` lists ``a/b``, not ``ab``)."""
        if prefix:
            check_key(prefix.rstrip("/"))
        base = self._path(prefix.rstrip("/")) if prefix else self.prefix
        found: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{base}/" if base else ""):
                found += [self._key(o["Key"]) for o in page.get("Contents", [])]
            if prefix and self.exists(prefix.rstrip("/")):
                found.append(prefix.rstrip("/"))
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc) from None
        return sorted(found)

    def cleanup_partial(self, older_than: float) -> int:
        """Abort multipart uploads under the prefix started more than ``older_than`` seconds ago."""
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=older_than)
        removed = 0
        try:
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] <= cutoff:
                        self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                           UploadId=upload["UploadId"])
                        removed += 1
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc) from None
        return removed

    def describe(self) -> str:
        return f"s3: {self.url} at {self.endpoint}"


def _read_part(src: BinaryIO) -> bytes:
    """Exactly ``PART`` bytes, fewer only at the end (reads may return short)."""
    parts, want = [], PART
    while want:
        block = src.read(min(want, CHUNK))
        if not block:
            break
        parts.append(block)
        want -= len(block)
    return b"".join(parts)


class _BodyReader(io.RawIOBase):
    """botocore's StreamingBody as a raw stream, so reads of any size work and close releases the connection."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._body.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
