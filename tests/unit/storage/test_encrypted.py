"""EncryptedStore over a real FileStore: round trips, plaintext never stored, tampering and wrong keys fail."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import secrets
from pathlib import Path

import pytest

from slipway.errors import InvalidArgument, NotFound
from slipway.storage.encrypted import EncryptedStore
from slipway.storage.fsspec_store import FileStore
from slipway.storage.keyring import DecryptionFailed, KeyRing


def make_store(tmp_path: Path, chunk: int = 64, key_file: Path | None = None) -> EncryptedStore:
    ring = KeyRing.load("", key_file or tmp_path / "master.key")
    return EncryptedStore(FileStore(f"file://{tmp_path / 'artifacts'}"), ring, chunk=chunk)


def raw_files(tmp_path: Path) -> dict[str, bytes]:
    root = tmp_path / "artifacts"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 128, 1000])
def test_round_trip_and_contract(tmp_path: Path, size: int) -> None:
    store = make_store(tmp_path)
    data = secrets.token_bytes(size)
    info = store.put("obj/a", io.BytesIO(data))
    assert (info.size, info.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert store.read_bytes("obj/a") == data
    assert b"".join(store.iter_chunks("obj/a", chunk=7)) == data
    assert store.size("obj/a") == size
    with store.open("obj/a") as f:
        assert f.read(5) == data[:5]
    assert store.list() == ["obj/a"] and store.list("obj") == ["obj/a"]
    store.delete("obj/a")
    assert store.list() == [] and raw_files(tmp_path) == {}
    # a source whose reads come short and in odd sizes (an upload's pipe) is cut into the same chunks
    info = store.put("obj/b", _Ragged(data, [1, 100, 3, 64, 65, 7]))
    assert (info.size, info.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert store.read_bytes("obj/b") == data and store.size("obj/b") == size
    assert store.read_range("obj/b", max(0, size - 70), 50) == data[max(0, size - 70):][:50]


class _Ragged(io.RawIOBase):
    """Serves ``data`` in reads of the given sizes, in turn, whatever size is asked for."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data, self._sizes, self._pos, self._turn = data, sizes, 0, 0

    def read(self, n: int = -1) -> bytes:
        step = self._sizes[self._turn % len(self._sizes)]
        self._turn += 1
        part = self._data[self._pos:self._pos + step]
        self._pos += len(part)
        return part


def test_plaintext_is_never_stored(tmp_path: Path) -> None:
    store = make_store(tmp_path, chunk=1024 * 1024)
    text = b"patient_id,diagnosis\n" + b"".join(b"%d,malignant-secret-marker\n" % i for i in range(20000))
    store.put("datasets/cancer/x", io.BytesIO(text))
    stored = raw_files(tmp_path)
    assert set(stored) == {"datasets/cancer/x", ".keys/datasets/cancer/x"}
    for blob in stored.values():
        assert b"malignant-secret-marker" not in blob and b"patient_id" not in blob
    assert store.read_bytes("datasets/cancer/x") == text


def test_wrong_master_key_fails_loudly(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.put("a", io.BytesIO(b"hello world"))
    other = base64.b64encode(secrets.token_bytes(32)).decode()
    wrong = EncryptedStore(FileStore(f"file://{tmp_path / 'artifacts'}"), KeyRing.load(other, tmp_path / "unused"))
    with pytest.raises(DecryptionFailed, match=r"encrypted under master key [0-9a-f]{16}.*Restore the master key"):
        wrong.open("a")
    with pytest.raises(DecryptionFailed):
        list(wrong.iter_chunks("a"))


def test_tampering_truncation_and_swaps_are_detected(tmp_path: Path) -> None:
    store = make_store(tmp_path, chunk=16)
    store.put("a", io.BytesIO(b"A" * 100))
    store.put("b", io.BytesIO(b"B" * 100))
    path = tmp_path / "artifacts" / "a"
    good = path.read_bytes()
    path.write_bytes(good[:40] + bytes([good[40] ^ 1]) + good[41:])
    with pytest.raises(DecryptionFailed, match="failed authentication"):
        store.read_bytes("a")
    path.write_bytes(good[: len(good) - 32])  # whole chunks cut off the end
    with pytest.raises(DecryptionFailed):
        store.read_bytes("a")
    path.write_bytes((tmp_path / "artifacts" / "b").read_bytes())  # another object's bytes
    with pytest.raises(DecryptionFailed):
        store.read_bytes("a")


def test_missing_object_and_unsafe_keys(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with pytest.raises(NotFound):
        store.open("nothing")
    for key in ("../escape", "/abs", "a/../../b", "a//b"):
        with pytest.raises(InvalidArgument):
            store.put(key, io.BytesIO(b"x"))
    assert not (tmp_path / "escape").exists()


def test_key_file_is_private_and_rotation_rewraps_without_rewriting_data(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    store = make_store(tmp_path, key_file=key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600
    old_fp = store.keyring.current
    store.put("a", io.BytesIO(b"alpha" * 50))
    data_before = (tmp_path / "artifacts" / "a").read_bytes()
    store.keyring.begin_rotation()
    assert store.rewrap_all() == 1
    store.keyring.commit_rotation()
    assert store.keyring.current != old_fp and store.keyring.fingerprints == [store.keyring.current]
    assert (tmp_path / "artifacts" / "a").read_bytes() == data_before
    assert store.read_bytes("a") == b"alpha" * 50
    # A fresh process loads the new key from the file and still reads everything.
    again = make_store(tmp_path, key_file=key_file)
    assert again.keyring.current == store.keyring.current and again.read_bytes("a") == b"alpha" * 50
    assert os.stat(key_file).st_mode & 0o777 == 0o600


def test_bad_master_key_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="master key from SLIPWAY_MASTER_KEY is not valid"):
        KeyRing.load("too-short", tmp_path / "k")
    assert KeyRing.load("ab" * 32, tmp_path / "k").current


def test_an_interrupted_rotation_resumes_with_the_same_new_key(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    store = make_store(tmp_path, key_file=key_file)
    store.put("a", io.BytesIO(b"first"))
    store.put("b", io.BytesIO(b"second"))
    new_fp = store.keyring.begin_rotation()
    store.inner.put_bytes(".keys/a", store.keyring.rewrap(store.inner.read_bytes(".keys/a"), b"a", "a"))
    # Crash here: 'a' is wrapped by the new key, 'b' by the old one. A restart loads both.
    again = make_store(tmp_path, key_file=key_file)
    assert set(again.keyring.fingerprints) == {new_fp, fingerprint_of(key_file)}
    assert again.read_bytes("a") == b"first" and again.read_bytes("b") == b"second"
    assert again.keyring.begin_rotation() == new_fp
    assert again.rewrap_all() == 1
    again.keyring.commit_rotation()
    final = make_store(tmp_path, key_file=key_file)
    assert final.keyring.fingerprints == [new_fp]
    assert final.read_bytes("a") == b"first" and final.read_bytes("b") == b"second"


def fingerprint_of(key_file: Path) -> str:
    from slipway.storage.keyring import fingerprint, parse_master_key

    return fingerprint(parse_master_key(key_file.read_text(), "test"))


@pytest.mark.parametrize("size", [0, 1, 64, 65, 1000])
def test_read_range_decrypts_only_the_chunks_asked_for(tmp_path: Path, size: int) -> None:
    store = make_store(tmp_path)
    data = secrets.token_bytes(size)
    store.put("r", io.BytesIO(data))
    for offset in (0, 1, 63, 64, 65, 500, 999, 1000, 5000):
        for limit in (0, 1, 64, 100, 10_000):
            assert store.read_range("r", offset, limit) == data[offset:offset + limit], (offset, limit)
    with pytest.raises(NotFound):
        store.read_range("missing", 0, 10)


def test_read_range_detects_tampering_and_truncation(tmp_path: Path) -> None:
    store = make_store(tmp_path, chunk=16)
    store.put("a", io.BytesIO(b"A" * 100))
    path = tmp_path / "artifacts" / "a"
    good = path.read_bytes()
    path.write_bytes(good[:60] + bytes([good[60] ^ 1]) + good[61:])  # inside chunk 1
    assert store.read_range("a", 0, 16) == b"A" * 16  # chunk 0 is intact and alone is read
    with pytest.raises(DecryptionFailed, match="failed authentication at chunk 1"):
        store.read_range("a", 16, 16)
    path.write_bytes(good[: len(good) - 32])  # whole chunks cut off the end: the new last one is not final
    with pytest.raises(DecryptionFailed):
        store.read_range("a", 0, 1000)
    path.write_bytes(b"junk")
    with pytest.raises(DecryptionFailed, match="not in Slipway's encrypted format"):
        store.read_range("a", 0, 10)
