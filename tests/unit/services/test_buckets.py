"""The S3 protocol's bucket service over a real (encrypted) artifact store and SQLite."""

from __future__ import annotations

import hashlib
import io

import pytest

from slipway.compat.dispatch import aws_error_for
from slipway.errors import Conflict, InvalidArgument, NotFound
from slipway.services import Platform
from slipway.services.buckets import BucketError, BucketRangeInvalid, BucketService, object_key


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_multipart_complete_and_abort_leave_no_parts(platform: Platform) -> None:
    svc = BucketService(platform.db, platform.store)
    svc.create_bucket("bk1", "admin")
    with pytest.raises(Conflict, match="already exists"):
        svc.create_bucket("bk1", "admin")
    up = svc.create_upload("bk1", "big.bin", "application/octet-stream", "admin")
    parts = [b"a" * 10, b"b" * 7]
    etags = [svc.put_part("bk1", "big.bin", up, n + 1, io.BytesIO(p), md5(p)) for n, p in enumerate(parts)]
    with pytest.raises(BucketError) as e:
        svc.complete("bk1", "big.bin", up, [(2, etags[1]), (1, etags[0])], "admin")
    assert e.value.s3_code == "InvalidPartOrder" and isinstance(e.value, InvalidArgument)
    meta = svc.complete("bk1", "big.bin", up, [(1, etags[0]), (2, etags[1])], "admin")
    assert meta.size == 17 and meta.etag.endswith('-2"') and meta.content_type == "application/octet-stream"
    assert platform.store.read_bytes(object_key("bk1", "big.bin")) == b"".join(parts)
    gone = svc.create_upload("bk1", "gone.bin", "", "admin")
    svc.put_part("bk1", "gone.bin", gone, 1, io.BytesIO(b"x"), md5(b"x"))
    with pytest.raises(BucketRangeInvalid) as r:  # bytes 0-17 of a 17-byte object
        svc.copy_part(svc, "bk1", "big.bin", "bk1", "gone.bin", gone, 2, (0, 17))
    # the S3 protocol answers a bucket error as the S3 error it stands for: its code, its status
    assert (aws_error_for(r.value).code, aws_error_for(r.value).status) == ("InvalidRange", 416)
    svc.abort("bk1", "gone.bin", gone)
    assert platform.store.list("s3-uploads") == []
    with pytest.raises(BucketError) as e:
        svc.put_part("bk1", "gone.bin", gone, 1, io.BytesIO(b"x"), md5(b"x"))
    assert e.value.s3_code == "NoSuchUpload" and isinstance(e.value, NotFound)
    assert (aws_error_for(e.value).code, aws_error_for(e.value).status) == ("NoSuchUpload", 404)


def test_list_delete_and_key_rules(platform: Platform) -> None:
    svc = BucketService(platform.db, platform.store)
    svc.create_bucket("bk2", "admin")
    for key in ["a/1", "a/2", "b", "c/d/e"]:
        svc.put("bk2", key, io.BytesIO(key.encode()), md5(key.encode()), "", "admin")
    assert [m.key for m in svc.list("bk2", "", "", 10)] == ["a/1", "a/2", "b", "c/d/e"]
    assert [m.key for m in svc.list("bk2", "a/", "a/1", 10)] == ["a/2"]
    svc.delete("bk2", "a/1")
    svc.delete("bk2", "never")  # deleting a missing key succeeds, as in S3
    assert not platform.store.exists(object_key("bk2", "a/1"))
    with pytest.raises(BucketError) as e:
        svc.delete_bucket("bk2")
    assert e.value.s3_code == "BucketNotEmpty" and isinstance(e.value, Conflict)
    for bad in ["a//b", "../x", "a/./b", "tab\there"]:
        with pytest.raises(BucketError) as e:
            svc.put("bk2", bad, io.BytesIO(b"x"), md5(b"x"), "", "admin")
        assert e.value.s3_code == "InvalidArgument" and repr(bad) in e.value.message
    for bad in ["ab", "Upper", "-dash", "a..b"]:
        with pytest.raises(BucketError) as e:
            svc.create_bucket(bad, "admin")
        assert e.value.s3_code == "InvalidBucketName"
