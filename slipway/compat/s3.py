"""The core of the S3 REST API, path-style, over Slipway's artifact store (slipway.services.buckets).

CreateBucket, HeadBucket, DeleteBucket, ListBuckets, GetBucketLocation, PutObject (and multipart:
Create/UploadPart/Complete/Abort), GetObject with Range, HeadObject, DeleteObject, ListObjectsV2.
Bodies are streamed to a spool file (never held whole in memory), decoded from ``aws-chunked`` when
boto3 sends its checksum trailers (STREAMING-UNSIGNED-PAYLOAD-TRAILER), and checked against the
signed SHA-256, Content-MD5 and ``x-amz-checksum-*`` values before anything is stored.
Access: ``s3:<Operation>``-style actions on ``bucket/<name>`` (docs/security.md).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import re
import tempfile
from typing import IO, Any
from urllib.parse import parse_qsl, unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from starlette.concurrency import run_in_threadpool

from slipway.compat.dispatch import Call, Reply
from slipway.compat.errors import AwsError, from_bucket_error
from slipway.services.buckets import BucketError, BucketService, ObjectMeta
from slipway.services.dataset_bucket import DATASETS_BUCKET, DatasetBucket, dataset_of

__all__ = ["handle"]

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_SPOOL = 8 * 1024 * 1024
_NOT_SUMS = ("x-amz-checksum-algorithm", "x-amz-checksum-type", "x-amz-checksum-mode")  # not checksum values
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _service(call: Call) -> BucketService:
    return call.platform.buckets


def _xml(root: str, inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{inner}</{root}>'.encode()


def _iso(when: Any) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _xml_reply(root: str, inner: str, status: int = 200) -> Reply:
    return Reply(status, [("content-type", "application/xml")], _xml(root, inner))


async def handle(call: Call) -> Reply:
    path = call.path
    bucket, _, key = path.lstrip("/").partition("/")
    query = dict(parse_qsl(call.query, keep_blank_values=True))
    user = call.principal.user
    svc = _service(call)
    m = call.method
    if not bucket:
        if m != "GET":
            raise AwsError("MethodNotAllowed", f"{m} / is not an S3 operation.", 405)
        call.authorize("s3:ListAllMyBuckets", "bucket/*")
        rows = await run_in_threadpool(svc.list_buckets)
        inner = "".join(f"<Bucket><Name>{r.name}</Name><CreationDate>{_iso(r.created_at)}</CreationDate></Bucket>"
                        for r in rows)
        return _xml_reply("ListAllMyBucketsResult", f"<Owner><ID>{escape(user)}</ID><DisplayName>{escape(user)}"
                          f"</DisplayName></Owner><Buckets>{inner}</Buckets>")
    resource = f"bucket/{bucket}"
    if bucket == DATASETS_BUCKET:
        return await _datasets(call, key, query)
    if not key:
        return await _bucket_op(call, svc, bucket, resource, query, user)
    if m == "PUT":
        if "x-amz-copy-source" in call.headers:
            return await _copy(call, svc, bucket, key, query, user)
        call.authorize("s3:PutObject", resource)
        if "uploadId" in query:
            number = query.get("partNumber", "")
            if not number.isdigit():
                raise AwsError("InvalidArgument", f"partNumber has value {number[:20]!r}; expected 1 to 10000.", 400)
            spool, md5, extra = await _receive(call)
            with spool:
                etag = await run_in_threadpool(svc.put_part, bucket, key, query["uploadId"], int(number), spool, md5)
            return Reply(200, [("etag", etag), *extra])
        spool, md5, extra = await _receive(call)
        with spool:
            meta = await run_in_threadpool(svc.put, bucket, key, spool, md5,
                                           call.headers.get("content-type", ""), user)
        return Reply(200, [("etag", meta.etag), *extra])
    if m == "POST":
        call.authorize("s3:PutObject", resource)
        if "uploads" in query:
            upload_id = await run_in_threadpool(svc.create_upload, bucket, key, call.headers.get("content-type", ""),
                                                user)
            return _xml_reply("InitiateMultipartUploadResult", f"<Bucket>{bucket}</Bucket><Key>{escape(key)}</Key>"
                              f"<UploadId>{upload_id}</UploadId>")
        if "uploadId" in query:
            body = await call.read_body(1024 * 1024)
            parts = _parts(body)
            meta = await run_in_threadpool(svc.complete, bucket, key, query["uploadId"], parts, user)
            return _xml_reply("CompleteMultipartUploadResult", f"<Location>/{bucket}/{escape(key)}</Location>"
                              f"<Bucket>{bucket}</Bucket><Key>{escape(key)}</Key><ETag>{escape(meta.etag)}</ETag>")
        raise AwsError("NotImplemented", "This POST on an object is not supported by Slipway.", 501)
    if m in ("GET", "HEAD"):
        call.authorize("s3:GetObject", resource)
        return await _get(call, svc, bucket, key)
    if m == "DELETE":
        if "uploadId" in query:
            call.authorize("s3:PutObject", resource)
            await run_in_threadpool(svc.abort, bucket, key, query["uploadId"])
            return Reply(204)
        call.authorize("s3:DeleteObject", resource)
        await run_in_threadpool(svc.delete, bucket, key)
        return Reply(204)
    raise AwsError("MethodNotAllowed", f"{m} is not an S3 object operation.", 405)


async def _bucket_op(call: Call, svc: BucketService, bucket: str, resource: str, query: dict[str, str],
                     user: str) -> Reply:
    m = call.method
    if m == "PUT":
        call.authorize("s3:CreateBucket", resource)
        await call.read_body(1024 * 1024)  # CreateBucketConfiguration: one region here
        await run_in_threadpool(svc.create_bucket, bucket, user)
        return Reply(200, [("location", f"/{bucket}")])
    if m == "HEAD":
        call.authorize("s3:ListBucket", resource)
        await run_in_threadpool(svc.bucket, bucket)
        return Reply(200, [("x-amz-bucket-region", call.sig.region if call.sig else "us-east-1")])
    if m == "DELETE":
        call.authorize("s3:DeleteBucket", resource)
        await run_in_threadpool(svc.delete_bucket, bucket)
        return Reply(204)
    if m == "POST" and "delete" in query:
        return await _delete_objects(call, svc, bucket)
    if m != "GET":
        raise AwsError("MethodNotAllowed", f"{m} is not an S3 bucket operation.", 405)
    call.authorize("s3:ListBucket", resource)
    await run_in_threadpool(svc.bucket, bucket)
    return await _list(call, svc, bucket, query)


async def _list(call: Call, svc: Any, bucket: str, query: dict[str, str]) -> Reply:
    if "location" in query:
        return Reply(200, [("content-type", "application/xml")],
                     f'<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="{NS}"/>'.encode())
    if query.get("list-type") == "2":
        return await run_in_threadpool(_list_v2, svc, bucket, query)
    if "list-type" in query:
        raise AwsError("InvalidArgument", f"list-type has value {query['list-type'][:20]!r}; expected 2 "
                       "(ListObjectsV2) or none (ListObjects).", 400)
    return await run_in_threadpool(_list_v1, svc, bucket, query)


async def _datasets(call: Call, key: str, query: dict[str, str]) -> Reply:
    """The read-only bucket of dataset versions: reads are ``datasets:Get`` on the dataset (listing across
    datasets ``datasets:List``); anything else is refused."""
    view = DatasetBucket(call.platform.db, call.platform.store)
    m = call.method
    if m not in ("GET", "HEAD"):
        call.authorize("datasets:Create", f"dataset/{dataset_of(key) or '*'}")
        raise AwsError("AccessDenied", f"Bucket {DATASETS_BUCKET} is a read-only view of Slipway's dataset versions "
                       "(s3://slipway-datasets/<dataset>/<version>/<file>): push a new version with `slipway data "
                       "push` instead.", 403)
    if key:
        call.authorize("datasets:Get", f"dataset/{dataset_of(key) or '*'}")
        return await _get(call, view, DATASETS_BUCKET, key)
    name = dataset_of(query.get("prefix", ""))
    if m == "HEAD" or name is None:
        call.authorize("datasets:List", "*")
    else:
        call.authorize("datasets:Get", f"dataset/{name}")
    if m == "HEAD":
        return Reply(200, [("x-amz-bucket-region", call.sig.region if call.sig else "us-east-1")])
    return await _list(call, view, DATASETS_BUCKET, query)


def _copy_source(value: str) -> tuple[str, str]:
    """``x-amz-copy-source``: ``[/]bucket/key`` URL-encoded, maybe with ``?versionId=`` (only ``null`` here)."""
    raw, _, version = value.partition("?versionId=")
    bucket, _, key = unquote(raw).lstrip("/").partition("/")
    if not bucket or not key:
        raise AwsError("InvalidArgument", f"x-amz-copy-source has value {value[:200]!r}; expected "
                       "<bucket>/<key>, URL-encoded.", 400)
    if version and version != "null":
        raise AwsError("NoSuchVersion", f"Version {version[:80]!r} of {bucket}/{key[:200]} does not exist: Slipway's "
                       "buckets are not versioned (copy without versionId).", 404)
    return bucket, key


def _source(call: Call, bucket: str, key: str) -> Any:
    """The service to read a copy source from, once the caller may read it."""
    if bucket == DATASETS_BUCKET:
        call.authorize("datasets:Get", f"dataset/{dataset_of(key) or '*'}")
        return DatasetBucket(call.platform.db, call.platform.store)
    call.authorize("s3:GetObject", f"bucket/{bucket}")
    return _service(call)


async def _copy(call: Call, svc: BucketService, bucket: str, key: str, query: dict[str, str], user: str) -> Reply:
    """CopyObject, or UploadPartCopy when the query names an upload."""
    src_bucket, src_key = _copy_source(call.headers["x-amz-copy-source"])
    source = _source(call, src_bucket, src_key)
    call.authorize("s3:PutObject", f"bucket/{bucket}")
    await call.read_body(1024 * 1024)  # a copy has no body
    if "uploadId" in query:
        number = query.get("partNumber", "")
        if not number.isdigit():
            raise AwsError("InvalidArgument", f"partNumber has value {number[:20]!r}; expected 1 to 10000.", 400)
        spec = call.headers.get("x-amz-copy-source-range")
        span = None
        if spec:
            m = re.fullmatch(r"bytes=(\d+)-(\d+)", spec.strip())
            if m is None or int(m.group(2)) < int(m.group(1)):
                raise AwsError("InvalidArgument", f"x-amz-copy-source-range has value {spec[:80]!r}; expected "
                               "bytes=first-last.", 400)
            span = (int(m.group(1)), int(m.group(2)))
        etag, modified = await run_in_threadpool(svc.copy_part, source, src_bucket, src_key, bucket, key,
                                                 query["uploadId"], int(number), span)
        return _xml_reply("CopyPartResult", f"<ETag>{escape(etag)}</ETag><LastModified>{_iso(modified)}"
                          "</LastModified>")
    directive = call.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise AwsError("InvalidArgument", f"x-amz-metadata-directive has value {directive[:20]!r}; expected COPY or "
                       "REPLACE.", 400)
    if (src_bucket, src_key) == (bucket, key) and directive == "COPY":
        raise AwsError("InvalidRequest", "This copy request is illegal because it is trying to copy an object to "
                       "itself without changing the object's metadata (use x-amz-metadata-directive REPLACE).", 400)
    content_type = call.headers.get("content-type", "") if directive == "REPLACE" else None
    meta = await run_in_threadpool(svc.copy, source, src_bucket, src_key, bucket, key, content_type, user)
    return _xml_reply("CopyObjectResult", f"<LastModified>{_iso(meta.modified_at)}</LastModified>"
                      f"<ETag>{escape(meta.etag)}</ETag>")


def _verify_body(call: Call, body: bytes) -> None:
    """Content-MD5 and ``x-amz-checksum-*`` headers of a small body read whole."""
    h = call.headers
    given_md5 = h.get("content-md5")
    if given_md5 and base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode() != given_md5:
        raise AwsError("BadDigest", "The body's MD5 is not the Content-MD5 sent.", 400)
    sent = {k.removeprefix("x-amz-checksum-"): v for k, v in h.items()
            if k.startswith("x-amz-checksum-") and k not in _NOT_SUMS}
    for name, c in _checksums(list(sent)).items():
        c.update(body)
        if c.b64digest() != sent[name]:
            raise AwsError("BadDigest", f"The body's {name.upper()} checksum is not the one sent.", 400)


def _child(node: ElementTree.Element, name: str) -> str | None:
    for child in node:
        if child.tag.rsplit("}", 1)[-1] == name:
            return child.text or ""
    return None


async def _delete_objects(call: Call, svc: BucketService, bucket: str) -> Reply:
    """DeleteObjects: up to 1000 keys; each failure is an ``<Error>`` of its own, the rest are deleted."""
    call.authorize("s3:DeleteObject", f"bucket/{bucket}")
    body = await call.read_body(2 * 1024 * 1024)
    _verify_body(call, body)
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise AwsError("MalformedXML", "The DeleteObjects body is not XML.", 400) from None
    quiet = (_child(root, "Quiet") or "").strip().lower() == "true"
    objects = [(_child(o, "Key"), _child(o, "VersionId")) for o in root if o.tag.rsplit("}", 1)[-1] == "Object"]
    if not 1 <= len(objects) <= 1000:
        raise AwsError("MalformedXML", f"DeleteObjects names {len(objects)} objects; expected 1 to 1000.", 400)
    if any(k is None for k, _ in objects):
        raise AwsError("MalformedXML", "Each Object in DeleteObjects needs a Key.", 400)
    await run_in_threadpool(svc.bucket, bucket)
    inner = []
    for key, version in objects:
        assert key is not None
        try:
            if version and version != "null":
                raise AwsError("NoSuchVersion", f"Version {version[:80]!r} does not exist: Slipway's buckets are not "
                               "versioned.", 404)
            await run_in_threadpool(svc.delete, bucket, key)
        except (AwsError, BucketError) as err:
            exc = from_bucket_error(err) if isinstance(err, BucketError) else err
            inner.append(f"<Error><Key>{escape(key)}</Key><Code>{escape(exc.code)}</Code><Message>"
                         f"{escape(exc.message)}</Message></Error>")
            continue
        if not quiet:
            inner.append(f"<Deleted><Key>{escape(key)}</Key></Deleted>")
    return _xml_reply("DeleteResult", "".join(inner))


def _max_keys(query: dict[str, str]) -> int:
    raw_max = query.get("max-keys", "1000")
    if not raw_max.isdigit():
        raise AwsError("InvalidArgument", f"max-keys has value {raw_max[:20]!r}; expected 0 to 1000.", 400)
    return min(int(raw_max), 1000)


def _scan(svc: Any, bucket: str, prefix: str, delimiter: str, after: str, max_keys: int
          ) -> tuple[list[ObjectMeta], list[str], bool, str]:
    """One page: (objects, common prefixes, truncated, the last key or prefix returned)."""
    contents: list[ObjectMeta] = []
    prefixes: list[str] = []
    truncated, last = False, ""
    cursor = after
    while True:
        batch = svc.list(bucket, prefix, cursor, 1000)
        if not batch:
            break
        for meta in batch:
            cursor = meta.key
            if delimiter:
                rest = meta.key[len(prefix):]
                cut = rest.find(delimiter)
                if cut >= 0:
                    common = prefix + rest[:cut + len(delimiter)]
                    if prefixes and prefixes[-1] == common or (after and after.startswith(common)
                                                               and after >= common):
                        continue
                    if len(contents) + len(prefixes) >= max_keys:
                        truncated = True
                        break
                    prefixes.append(common)
                    last = common
                    continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            contents.append(meta)
            last = meta.key
        if truncated or len(batch) < 1000:
            break
    return contents, prefixes, truncated, last


def _entries(contents: list[ObjectMeta], prefixes: list[str]) -> list[str]:
    out = [f"<Contents><Key>{escape(meta.key)}</Key><LastModified>{_iso(meta.modified_at)}</LastModified>"
           f"<ETag>{escape(meta.etag)}</ETag><Size>{meta.size}</Size><StorageClass>STANDARD</StorageClass>"
           "</Contents>" for meta in contents]
    out.extend(f"<CommonPrefixes><Prefix>{escape(p)}</Prefix></CommonPrefixes>" for p in prefixes)
    return out


def _list_v1(svc: Any, bucket: str, query: dict[str, str]) -> Reply:
    """ListObjects (v1): ``marker`` is the last key (or common prefix) of the page before."""
    prefix, delimiter, marker = query.get("prefix", ""), query.get("delimiter", ""), query.get("marker", "")
    max_keys = _max_keys(query)
    contents, prefixes, truncated, last = _scan(svc, bucket, prefix, delimiter, marker, max_keys)
    inner = [f"<Name>{bucket}</Name><Prefix>{escape(prefix)}</Prefix><Marker>{escape(marker)}</Marker>"
             f"<MaxKeys>{max_keys}</MaxKeys><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
    if delimiter:
        inner.append(f"<Delimiter>{escape(delimiter)}</Delimiter>")
    if truncated:
        inner.append(f"<NextMarker>{escape(last)}</NextMarker>")
    return _xml_reply("ListBucketResult", "".join(inner + _entries(contents, prefixes)))


def _list_v2(svc: Any, bucket: str, query: dict[str, str]) -> Reply:
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    max_keys = _max_keys(query)
    token = query.get("continuation-token")
    after = query.get("start-after", "")
    if token is not None:
        try:
            after = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
            if not token:
                raise ValueError("empty")
        except ValueError:
            raise AwsError("InvalidArgument", "The continuation token is not one this server issued.", 400) from None
    contents, prefixes, truncated, last = _scan(svc, bucket, prefix, delimiter, after, max_keys)
    if truncated and prefixes and last == prefixes[-1]:
        last += "\uffff"  # the next page starts after everything under it
    inner = [f"<Name>{bucket}</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(contents) + len(prefixes)}"
             f"</KeyCount><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
    if delimiter:
        inner.append(f"<Delimiter>{escape(delimiter)}</Delimiter>")
    if token is not None:
        inner.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
    if "start-after" in query:
        inner.append(f"<StartAfter>{escape(query['start-after'])}</StartAfter>")
    if truncated:
        inner.append(f"<NextContinuationToken>{base64.urlsafe_b64encode(last.encode()).decode()}"
                     "</NextContinuationToken>")
    return _xml_reply("ListBucketResult", "".join(inner + _entries(contents, prefixes)))


def _object_headers(meta: ObjectMeta) -> list[tuple[str, str]]:
    return [("etag", meta.etag), ("last-modified", email.utils.format_datetime(meta.modified_at, usegmt=True)),
            ("content-type", meta.content_type), ("accept-ranges", "bytes")]


async def _get(call: Call, svc: Any, bucket: str, key: str) -> Reply:
    meta = await run_in_threadpool(svc.head, bucket, key)
    headers = _object_headers(meta)
    if call.method == "HEAD":
        return Reply(200, headers, b"", length=meta.size)
    spec = call.headers.get("range")
    if spec:
        m = _RANGE.match(spec.strip())
        if m is None or (not m.group(1) and not m.group(2)):
            raise AwsError("InvalidRange", f"Range {spec[:80]!r} is not 'bytes=first-last', 'bytes=first-' or "
                           "'bytes=-suffix'.", 416)
        if m.group(1):
            first = int(m.group(1))
            last = min(int(m.group(2)), meta.size - 1) if m.group(2) else meta.size - 1
        else:
            first, last = max(0, meta.size - int(m.group(2))), meta.size - 1
        if first >= meta.size or last < first:
            raise AwsError("InvalidRange", f"The range {spec[:80]} is not satisfiable for an object of {meta.size} "
                           "bytes.", 416)
        data = await run_in_threadpool(svc.read_range, bucket, key, first, last - first + 1)
        return Reply(206, [*headers, ("content-range", f"bytes {first}-{last}/{meta.size}")], data)
    _, chunks = await run_in_threadpool(svc.open, bucket, key)
    return Reply(200, headers, chunks, length=meta.size)


def _parts(body: bytes) -> list[tuple[int, str]]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise AwsError("MalformedXML", "The CompleteMultipartUpload body is not XML.", 400) from None
    parts = []
    for part in root.iter():
        if part.tag.rsplit("}", 1)[-1] != "Part":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in part}
        number = fields.get("PartNumber", "")
        if not number.isdigit() or "ETag" not in fields:
            raise AwsError("MalformedXML", "Each Part needs a PartNumber and an ETag.", 400)
        parts.append((int(number), fields["ETag"]))
    return parts


# -- request bodies: aws-chunked decoding and checksums ---------------------------------------------------------


def _checksums(names: list[str]) -> dict[str, Any]:
    """An implementation for each ``x-amz-checksum-<name>`` sent; an algorithm S3 does not have is a 400."""
    from slipway.compat.checksums import checksum_for

    out = {}
    for n in names:
        c = checksum_for(n)
        if c is None:
            raise AwsError("InvalidRequest", f"Checksum algorithm x-amz-checksum-{n[:40]} is not one S3 has: expected "
                           "crc32, crc32c, crc64nvme, sha1 or sha256.", 400)
        out[n] = c
    return out


async def _receive(call: Call) -> tuple[IO[bytes], str, list[tuple[str, str]]]:
    """Spool the request body to a temporary file, decoded and verified: (file at 0, md5 hex, headers to echo)."""
    h = call.headers
    declared = h.get("x-amz-content-sha256", "")
    if declared.startswith("STREAMING-") and declared != "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
        raise AwsError("NotImplemented", f"Payload signing {declared[:60]} is not supported; boto3's default "
                       "(UNSIGNED-PAYLOAD-TRAILER or a SHA-256 of the body) is.", 501)
    chunked = declared.startswith("STREAMING-") or "aws-chunked" in h.get("content-encoding", "")
    trailer_names = [t.strip().lower() for t in h.get("x-amz-trailer", "").split(",") if t.strip()]
    header_sums = {k.removeprefix("x-amz-checksum-"): v for k, v in h.items()
                   if k.startswith("x-amz-checksum-") and k not in _NOT_SUMS}
    sums = _checksums([*header_sums, *(t.removeprefix("x-amz-checksum-") for t in trailer_names)])
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256() if re.fullmatch(r"[0-9a-f]{64}", declared) else None
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 - returned open

    def take(data: bytes) -> None:
        md5.update(data)
        if sha is not None:
            sha.update(data)
        for c in sums.values():
            c.update(data)
        spool.write(data)

    try:
        trailers = await (_dechunk(call, take) if chunked else _plain(call, take))
        if "x-amz-decoded-content-length" in h and h["x-amz-decoded-content-length"].isdigit() \
                and int(h["x-amz-decoded-content-length"]) != spool.tell():
            raise AwsError("IncompleteBody", "The decoded body is not x-amz-decoded-content-length bytes.", 400)
        if sha is not None and sha.hexdigest() != declared:
            raise AwsError("XAmzContentSHA256Mismatch", "The body's SHA-256 is not the signed x-amz-content-sha256.",
                           400)
        given_md5 = h.get("content-md5")
        if given_md5 and base64.b64encode(md5.digest()).decode() != given_md5:
            raise AwsError("BadDigest", "The body's MD5 is not the Content-MD5 sent.", 400)
        expected = {**header_sums, **{k.removeprefix("x-amz-checksum-"): v for k, v in trailers.items()}}
        echo = []
        for t in trailer_names:
            if t not in trailers:
                raise AwsError("IncompleteBody", f"The body ends without the {t[:60]} trailer that x-amz-trailer "
                               "announced.", 400)
        for name, value in expected.items():
            c = sums.get(name)
            if c is None:
                raise AwsError("InvalidRequest", f"Trailer x-amz-checksum-{name[:40]} was not announced in "
                               "x-amz-trailer.", 400)
            if c.b64digest() != value:
                raise AwsError("BadDigest", f"The body's {name.upper()} checksum is not the one sent.", 400)
            echo.append((f"x-amz-checksum-{name}", value))
        spool.seek(0)
        return spool, md5.hexdigest(), echo
    except BaseException:
        spool.close()
        raise


async def _chunks(call: Call) -> Any:
    if call.body_read:  # read whole to check a signature made without x-amz-content-sha256
        if call.body:
            yield call.body
        return
    while True:
        message = await call.receive()
        if message["type"] == "http.disconnect":
            raise AwsError("RequestTimeout", "The client went away before the body was read.", 400)
        data = message.get("body", b"")
        if data:
            yield data
        if not message.get("more_body", False):
            return


async def _plain(call: Call, take: Any) -> dict[str, str]:
    async for data in _chunks(call):
        take(data)
    return {}


async def _dechunk(call: Call, take: Any) -> dict[str, str]:
    """Decode ``aws-chunked``: ``<hex size>[;ext]\\r\\n<bytes>\\r\\n`` … ``0\\r\\n`` then trailer lines."""
    buf = bytearray()
    source = _chunks(call)
    done = False

    async def fill() -> bool:
        nonlocal done
        if done:
            return False
        try:
            buf.extend(await source.__anext__())
            return True
        except StopAsyncIteration:
            done = True
            return False

    async def line() -> bytes:
        while True:
            i = buf.find(b"\r\n")
            if i >= 0:
                out = bytes(buf[:i])
                del buf[:i + 2]
                return out
            if len(buf) > 4096 or not await fill():
                raise AwsError("IncompleteBody", "The aws-chunked body is malformed (a chunk header or trailer line "
                               "is missing its CRLF).", 400)

    while True:
        header = (await line()).split(b";", 1)[0].strip()
        try:
            size = int(header, 16)
        except ValueError:
            raise AwsError("IncompleteBody", f"aws-chunked size {header[:20]!r} is not hexadecimal.", 400) from None
        if size == 0:
            break
        while len(buf) < size + 2:
            if not await fill():
                raise AwsError("IncompleteBody", "The aws-chunked body ends inside a chunk.", 400)
        take(bytes(buf[:size]))
        if buf[size:size + 2] != b"\r\n":
            raise AwsError("IncompleteBody", "An aws-chunked chunk is not followed by CRLF.", 400)
        del buf[:size + 2]
    trailers: dict[str, str] = {}
    while True:
        try:
            text = (await line()).decode("latin-1")
        except AwsError:
            break  # the final empty line may be missing
        if not text:
            break
        name, _, value = text.partition(":")
        if name.lower().startswith("x-amz-checksum-"):
            trailers[name.strip().lower()] = unquote(value.strip())
    async for _ in source:  # drain
        pass
    return trailers
