"""Serving copies of models: private on disk, shared by replicas, gone when nothing uses them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from slipway.artifacts import pack_artifact
from slipway.services import Platform
from slipway.serving.copies import ModelCopies
from slipway.storage import ArtifactStore
from slipway.storage.registry import open_store
from tests.support.models import write_cancer_artifact

SHA = "ab" * 32


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    folder = tmp_path / "model"
    (folder / "code").mkdir(parents=True)
    (folder / "slipway-model.json").write_text("{}")
    (folder / "code" / "inference.py").write_text("def model_fn(d): return d\n")
    pack_artifact(folder, tmp_path / "model.tar.gz")
    s = open_store(f"file://{tmp_path / 'store'}")
    s.put_file("models/m.tar.gz", tmp_path / "model.tar.gz")
    return s


def modes(folder: Path) -> set[tuple[str, int]]:
    return {("dir" if p.is_dir() else "file", stat.S_IMODE(p.stat().st_mode)) for p in [folder, *folder.rglob("*")]}


def test_a_copy_is_private_and_goes_with_its_last_replica(store: ArtifactStore, tmp_path: Path) -> None:
    copies = ModelCopies(tmp_path / "serving" / "models", store)
    copy = copies.acquire("cancer:1", "models/m.tar.gz", SHA)
    assert (copy / "code" / "inference.py").read_text().startswith("def model_fn")
    assert modes(copy) == {("dir", 0o700), ("file", 0o600)}
    assert stat.S_IMODE(copies.folder.stat().st_mode) == 0o700
    copies.attach(copy, "r1")
    assert copies.acquire("cancer:1", "models/m.tar.gz", SHA) == copy  # shared, fetched once
    copies.attach(copy, "r2")
    copies.release(copy, "r1")
    assert copy.is_dir()
    copies.release(copy, "r2")
    assert not copy.exists()


def test_a_copy_handed_out_but_never_used_is_removed(store: ArtifactStore, tmp_path: Path) -> None:
    copies = ModelCopies(tmp_path / "models", store)
    copy = copies.acquire("cancer:1", "models/m.tar.gz", SHA)
    copies.abandon(copy)
    assert not copy.exists()
    assert list(copies.folder.iterdir()) == []  # no half-written fetch left either


def test_deleting_a_version_removes_its_unused_copies_only(store: ArtifactStore, tmp_path: Path) -> None:
    left = ModelCopies(tmp_path / "models", store)  # copies no replica of this process uses
    mine = left.acquire("cancer:1", "models/m.tar.gz", SHA)
    other = left.acquire("cancer-1:2", "models/m.tar.gz", SHA)  # its folder name starts like cancer:1's
    copies = ModelCopies(tmp_path / "models", store)
    used = copies.acquire("cancer:3", "models/m.tar.gz", SHA)
    copies.attach(used, "r1")
    assert copies.remove("cancer:1") == [mine]
    assert not mine.exists() and other.is_dir()
    assert copies.remove("cancer:3") == [] and used.is_dir()  # in use: it goes with its replica
    copies.release(used, "r1")
    assert not used.exists()


def test_start_up_removes_everything_no_adopted_replica_uses(store: ArtifactStore, tmp_path: Path) -> None:
    left = ModelCopies(tmp_path / "models", store)  # what a crashed server left behind
    kept = left.acquire("cancer:1", "models/m.tar.gz", SHA)
    stale = left.acquire("cancer:2", "models/m.tar.gz", SHA)
    half = left.folder / ".cancer-3-0123456789abcdef.1a2b3c4d"
    half.mkdir()
    (half / "model.tar.gz").write_bytes(b"partial")

    copies = ModelCopies(tmp_path / "models", store)  # the next server
    copies.attach(kept, "adopted", pending=False)
    assert copies.remove_unused() == sorted([stale, half])
    assert kept.is_dir() and not stale.exists() and not half.exists()
    copies.release(kept, "adopted")
    assert list(copies.folder.iterdir()) == []


def test_deleting_a_model_version_removes_its_serving_copy(platform: Platform, tmp_path: Path) -> None:
    v = platform.registry.register("cancer", write_cancer_artifact(tmp_path / "v1"), onnx=False)
    view, key = platform.registry.artifact(v.ref)
    left = ModelCopies(platform.serving.models_dir, platform.store)  # a copy no replica of this process uses
    copy = left.acquire(view.ref, key, view.sha256)
    assert (copy / "slipway-model.json").is_file()
    platform.registry.delete_version(v.ref)
    assert not copy.exists()
