"""The one-pass dataset push: bytes fed through a pipe as the route feeds them, into the encrypted store."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from slipway.errors import InvalidArgument
from slipway.services import Platform
from slipway.storage.pipe import BlockPipe, PipeAborted


def _push(platform: Platform, name: str, data: bytes, *, stop_after: int | None = None, **kw: str):
    """Feed ``data`` in 1 KiB blocks from a thread; ``stop_after`` blocks then fail the pipe (a client gone)."""
    pipe = BlockPipe(depth=4)

    def feed() -> None:
        for i in range(0, len(data), 1024):
            if stop_after is not None and i // 1024 == stop_after:
                pipe.fail("the client went away")
                return
            if not pipe.send(data[i : i + 1024]):
                return
        pipe.finish()

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        return platform.datasets.push_stream(name, pipe, **kw)
    finally:
        pipe.close()
        feeder.join()


def _csv(rows: int, seed: int = 0) -> bytes:
    lines = ["a,b,label"] + [f"{i + seed},{i * 0.5},{'yes' if i % 3 else 'no'}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _stored(platform: Platform) -> list[str]:
    return platform.store.list("datasets")


def test_one_pass_push_stores_the_same_bytes_and_dedupes(platform: Platform) -> None:
    data = _csv(3000)
    first = _push(platform, "s", data, filename="s.csv", label="label")
    v = first.version
    assert first.created and (v.rows, v.columns, v.format, v.size) == (3000, 3, "csv", len(data))
    assert v.sha256 == hashlib.sha256(data).hexdigest()
    assert v.info["classes"] == {"no": 1000, "yes": 2000}
    assert platform.store.read_bytes(platform.datasets.storage_key("s:1")) == data
    again = _push(platform, "s", data, filename="other-name.csv", label="label")
    assert not again.created and again.version.ref == "s:1"
    assert len(_stored(platform)) == 1  # the second copy was written, found equal, removed
    # An extension-less upload is known by its first bytes; JSONL takes the same one pass.
    jsonl = b"".join(b'{"x": %d, "y": "c%d"}\n' % (i, i % 2) for i in range(500))
    j = _push(platform, "j", jsonl, filename="records", label="y").version
    assert (j.format, j.rows, j.info["classes"]) == ("jsonl", 500, {"c0": 250, "c1": 250})


def test_a_bad_csv_leaves_nothing_stored(platform: Platform) -> None:
    # The bad row is far past the sample: the fast reader gives up, the exact one re-reads the stored copy.
    data = _csv(3000) + b"1,2,3,4\n" + _csv(5)[10:]
    with pytest.raises(InvalidArgument, match=r"line 3002: expected 3 fields, saw 4"):
        _push(platform, "bad", data, filename="bad.csv")
    with pytest.raises(InvalidArgument, match=r"Label column 'nope' not found"):
        _push(platform, "bad", _csv(50), filename="bad.csv", label="nope")
    with pytest.raises(InvalidArgument, match="empty"):
        _push(platform, "bad", b"", filename="bad.csv")
    assert _stored(platform) == []
    assert platform.datasets.count() == 0


def test_an_interrupted_push_leaves_no_object_and_no_row(platform: Platform) -> None:
    with pytest.raises(PipeAborted, match="client went away"):
        _push(platform, "cut", _csv(20_000), stop_after=50, filename="cut.csv")
    assert _stored(platform) == []
    assert not any(Path(platform.settings.home, "artifacts", ".tmp").iterdir())
    assert platform.datasets.count() == 0
