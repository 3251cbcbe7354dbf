"""DatasetService.push stores and inspects the upload side by side: a rejected file leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.errors import InvalidArgument
from slipway.services import Platform


def test_push_stores_a_csv_and_pull_gives_the_same_bytes(platform: Platform, tmp_path: Path) -> None:
    data = b"a,b,label\n" + b"".join(b"%d,%d.5,%d\n" % (i, i, i % 3) for i in range(20_000))
    upload = tmp_path / "upload"
    upload.write_bytes(data)
    result = platform.datasets.push("table", upload, filename="t.csv", label="label")
    assert result.created and result.version.rows == 20_000
    assert result.version.info["classes"] == {"0": 6667, "1": 6667, "2": 6666}
    _, chunks = platform.datasets.open_content("table:1")
    assert b"".join(chunks) == data
    assert not upload.exists()


def test_rejected_push_removes_the_stored_copy(platform: Platform, tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    upload.write_bytes(b"a,b\n" + b"1,2\n" * 50_000 + b"1,2,3\n")
    with pytest.raises(InvalidArgument, match="at line 50002: expected 2 fields, saw 3"):
        platform.datasets.push("bad", upload, filename="bad.csv")
    assert platform.store.list("datasets/") == []
    assert not upload.exists()
