"""DirectWriter: whole 4 MB blocks with O_DIRECT where the filesystem allows, the rest the plain way; same bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from slipway.storage.direct import BLOCK, DirectWriter
from slipway.storage.fsspec_store import FileStore


@pytest.mark.parametrize("size", [0, 4096, 3 * BLOCK, 2 * BLOCK + 12_345])
def test_direct_writer_writes_exactly_what_it_was_given(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    with DirectWriter(tmp_path / "out") as out:
        for start in range(0, size, 1_000_003):  # pieces that never line up with the blocks
            assert out.write(data[start : start + 1_000_003]) == len(data[start : start + 1_000_003])
    assert (tmp_path / "out").read_bytes() == data


def test_a_failed_write_leaves_what_was_buffered_unwritten(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), DirectWriter(tmp_path / "out") as out:
        out.write(b"x" * 100)
        raise RuntimeError("the source broke")
    assert (tmp_path / "out").read_bytes() == b""


def test_file_store_keeps_big_objects_byte_for_byte(tmp_path: Path) -> None:
    store = FileStore(f"file://{tmp_path / 'store'}")
    data = os.urandom(2 * BLOCK + 777)
    blocks = [data[i : i + (1 << 20) + 16] for i in range(0, len(data), (1 << 20) + 16)]  # sealed-chunk sizes
    assert store.put_chunks("big/object", blocks) == len(data)
    with store.open("big/object") as f:
        assert f.read() == data
    assert list((tmp_path / "store" / ".tmp").iterdir()) == []
