"""The artifact store contract; every backend runs the same tests (subclass StoreContract)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from slipway.errors import InvalidArgument, NotFound
from slipway.storage import ArtifactStore, open_store
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server


class _Boom(io.RawIOBase):
    """A stream that fails half-way, like a dropped upload."""

    def __init__(self, limit: int = 3 * 1024 * 1024) -> None:
        self.sent = 0
        self.limit = limit

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.sent > self.limit:
            raise ConnectionError("peer went away")
        self.sent += 1024 * 1024
        return b"x" * (1024 * 1024)


class StoreContract:
    @pytest.fixture
    def store(self, tmp_path: Path) -> ArtifactStore:
        raise NotImplementedError

    def test_put_get_roundtrip_and_checksum(self, store: ArtifactStore) -> None:
        data = b"hello\n" * 100_000
        info = store.put_bytes("a/b/c.bin", data)
        assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        assert store.read_bytes("a/b/c.bin") == data
        assert store.exists("a/b/c.bin")
        assert store.list("a") == ["a/b/c.bin"]
        assert store.put_chunks("a/chunks", iter([b"ab", b"", b"c" * 70_000, b"d"])) == 70_003
        assert store.read_bytes("a/chunks") == b"ab" + b"c" * 70_000 + b"d"

    def test_overwrite_is_atomic_replace(self, store: ArtifactStore) -> None:
        store.put_bytes("k", b"one")
        store.put_bytes("k", b"two")
        assert store.read_bytes("k") == b"two"

    def test_failed_write_leaves_nothing(self, store: ArtifactStore) -> None:
        with pytest.raises(ConnectionError):
            store.put("broken/obj", _Boom())  # type: ignore[arg-type]
        assert not store.exists("broken/obj")
        assert store.list("") == []

    def test_read_range(self, store: ArtifactStore) -> None:
        data = bytes(range(256)) * 20_000
        store.put_bytes("r", data)
        assert store.read_range("r", 0, 10) == data[:10]
        assert store.read_range("r", 3_000_000, 100) == data[3_000_000:3_000_100]
        assert store.read_range("r", len(data) + 5, 10) == b""

    def test_delete_and_missing(self, store: ArtifactStore) -> None:
        store.put_bytes("x/y", b"1")
        store.delete("x/y")
        store.delete("x/y")  # idempotent
        assert not store.exists("x/y")
        with pytest.raises(NotFound):
            store.read_bytes("x/y")

    @pytest.mark.parametrize("key", ["../escape", "/abs", "a/../../b", "a//b", "", "a/./b"])
    def test_keys_cannot_escape(self, store: ArtifactStore, key: str) -> None:
        with pytest.raises(InvalidArgument, match="not a safe relative path"):
            store.put_bytes(key, b"1")

    def test_streams_large_objects_in_chunks(self, store: ArtifactStore, tmp_path: Path) -> None:
        src = tmp_path / "big"
        with open(src, "wb") as f:
            for i in range(20):
                f.write(bytes([i]) * 1024 * 1024)
        info = store.put_file("big", src)
        assert info.size == 20 * 1024 * 1024
        chunks = list(store.iter_chunks("big"))
        assert len(chunks) >= 20 and max(len(c) for c in chunks) <= 1024 * 1024
        out = store.get_file("big", tmp_path / "copy")
        assert out.sha256 == info.sha256


class TestFileStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> ArtifactStore:
        return open_store(f"file://{tmp_path / 'store'}")


def test_unknown_scheme_names_the_setting() -> None:
    with pytest.raises(InvalidArgument, match="Setting 'artifact_url' has value 'ftp://x'"):
        open_store("ftp://x")


class TestEncryptedFileStore(StoreContract):
    """The store the platform really uses: AES-GCM envelope encryption over the file store."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> ArtifactStore:
        from slipway.storage.encrypted import EncryptedStore
        from slipway.storage.keyring import KeyRing

        return EncryptedStore(open_store(f"file://{tmp_path / 'store'}"), KeyRing.load("", tmp_path / "master.key"))


class TestS3Store(StoreContract):
    """The S3 store over HTTP against a real S3-compatible server (moto's server mode)."""

    @pytest.fixture
    def store(self, s3_server: S3Server, s3_bucket: str) -> ArtifactStore:
        from slipway.storage.s3_store import S3Store

        return S3Store(f"s3://{s3_bucket}/artifacts", s3_server.url, "us-east-1", ACCESS_KEY, SECRET_KEY)

    def test_multipart_upload_roundtrip(self, store: ArtifactStore) -> None:
        from slipway.storage.s3_store import PART

        data = hashlib.sha256(b"seed").digest() * ((2 * PART + 12345) // 32)
        info = store.put_bytes("multi/part", data)
        assert info.size == len(data) and store.size("multi/part") == len(data)
        assert store.read_bytes("multi/part") == data
        assert store.read_range("multi/part", PART - 5, 10) == data[PART - 5:PART + 5]

    def test_failed_multipart_upload_is_aborted(self, store: ArtifactStore) -> None:
        with pytest.raises(ConnectionError):
            store.put("broken/big", _Boom(limit=20 * 1024 * 1024))  # type: ignore[arg-type]
        assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []  # type: ignore[attr-defined]
        assert not store.exists("broken/big")

    def test_cleanup_aborts_uploads_a_crash_left(self, store: ArtifactStore) -> None:
        client, bucket = store.client, store.bucket  # type: ignore[attr-defined]
        client.create_multipart_upload(Bucket=bucket, Key="artifacts/half-written")
        client.create_multipart_upload(Bucket=bucket, Key="elsewhere/not-ours")  # outside the prefix
        # (The age limit is not checked here: moto reports every upload as initiated in 2010.)
        assert store.cleanup_partial(0.0) == 1
        left = [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
        assert left == ["elsewhere/not-ours"]

    def test_prefix_is_a_folder(self, store: ArtifactStore) -> None:
        store.put_bytes("ab", b"1")
        store.put_bytes("a/b", b"2")
        assert store.list("a") == ["a/b"]
        assert store.list("ab") == ["ab"]


class TestEncryptedS3Store(StoreContract):
    """What the platform uses with artifact_url = s3://…: Slipway's envelope encryption over S3."""

    @pytest.fixture
    def store(self, tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> ArtifactStore:
        from slipway.storage.encrypted import EncryptedStore
        from slipway.storage.keyring import KeyRing
        from slipway.storage.s3_store import S3Store

        inner = S3Store(f"s3://{s3_bucket}", s3_server.url, "us-east-1", ACCESS_KEY, SECRET_KEY)
        return EncryptedStore(inner, KeyRing.load("", tmp_path / "master.key"))

    def test_bytes_at_rest_are_encrypted(self, store: ArtifactStore, s3_server: S3Server) -> None:
        store.put_bytes("secret", b"plain text that must not be stored as is")
        raw = s3_server.client().get_object(Bucket=store.inner.bucket, Key="secret")["Body"].read()  # type: ignore[attr-defined]
        assert b"plain text" not in raw and raw.startswith(b"SWE1")
