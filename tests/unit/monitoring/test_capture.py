"""Request capture: sampling, rate cap, a bounded queue that drops and counts, SageMaker's record format,
truncation, and records written encrypted to the store and read back by time."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import orjson
import pytest

from slipway.errors import InvalidArgument, NotFound
from slipway.monitoring.capture import CaptureBuffer, to_record
from slipway.services import Platform


def _offer(buf: CaptureBuffer, n: int, endpoint: str = "ep") -> None:
    for i in range(n):
        buf.offer(endpoint, "a", f"rid-{i}", "application/json", b'{"instances": [[1, 2]]}', "application/json",
                  b'{"predictions": [1]}')


def test_a_full_queue_drops_and_counts_without_waiting() -> None:
    buf = CaptureBuffer(max_queue=5, max_per_second=1000)
    _offer(buf, 12)
    assert len(buf) == 5
    assert buf.counts[("ep", "queued")] == 5 and buf.counts[("ep", "queue_full")] == 7
    assert [c.inference_id for c in buf.drain()] == [f"rid-{i}" for i in range(5)]
    assert len(buf) == 0


def test_rate_cap_and_sampling_percentage() -> None:
    buf = CaptureBuffer(max_queue=1000, max_per_second=3)
    second = int(time.time())
    _offer(buf, 10)
    if int(time.time()) == second:  # all ten within one second: the cap let three through
        assert buf.counts[("ep", "queued")] == 3 and buf.counts[("ep", "over_rate_cap")] == 7
    buf = CaptureBuffer(max_queue=1000, max_per_second=100_000)
    buf.percent = {"off": 0.0, "some": 10.0}
    _offer(buf, 2000, "off")
    _offer(buf, 2000, "some")
    assert ("off", "queued") not in buf.counts
    assert 100 <= buf.counts[("some", "queued")] <= 320  # 10 % of 2000, with room for chance


def test_records_follow_sagemakers_capture_format_and_mark_truncation() -> None:
    buf = CaptureBuffer(max_queue=10, max_per_second=10)
    buf.offer("ep", "a", "rid-1", "text/csv", b"1,2,3\n", "application/json", b'{"p": 1}')
    buf.offer("ep", "a", "rid-2", "application/octet-stream", b"\x00" * 100, "application/json", b"x" * 50)
    first, second = buf.drain()
    record, cut = to_record(first, limit=32)
    assert not cut
    assert record["captureData"] == {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2,3\n", "encoding": "CSV"},
        "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "data": '{"p": 1}',
                           "encoding": "JSON"}}
    meta = record["eventMetadata"]
    assert meta["inferenceId"] == "rid-1" and len(meta["eventId"]) == 36 and meta["inferenceTime"].endswith("Z")
    assert record["eventVersion"] == "0"
    record, cut = to_record(second, limit=32)
    assert cut
    inp, out = record["captureData"]["endpointInput"], record["captureData"]["endpointOutput"]
    assert inp["encoding"] == "BASE64" and base64.b64decode(inp["data"]) == b"\x00" * 32
    assert (inp["truncated"], inp["originalSizeBytes"]) == (True, 100)
    assert (out["data"], out["truncated"], out["originalSizeBytes"]) == ("x" * 32, True, 50)


def _deploy_row(platform: Platform, name: str) -> None:
    from slipway.db.models import Endpoint

    with platform.db.session() as s:
        s.add(Endpoint(name=name, status="InService", desired={"variants": []}))


def test_records_are_written_encrypted_by_hour_and_read_back(platform: Platform) -> None:
    _deploy_row(platform, "ep")
    buf = platform.capture_buffer
    buf.offer("ep", "a", "rid-1", "application/json", b'{"instances": [["SECRET-VALUE"]]}', "application/json",
              b'{"predictions": ["yes"]}')
    buf.offer("ep", "a", "rid-2", "application/json", b"[" + b"7," * 40_000 + b"7]", "application/json", b"{}")
    assert platform.capture.flush() == 2
    keys = platform.store.list("capture/ep/")
    assert len(keys) == 1
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime())
    assert keys[0].startswith(f"capture/ep/a/{hour}/") and keys[0].endswith(".jsonl")
    raw = next(Path(platform.settings.home, "artifacts").rglob("*.jsonl")).read_bytes()
    assert b"SECRET-VALUE" not in raw and b"captureData" not in raw  # encrypted at rest
    lines = platform.store.read_bytes(keys[0]).splitlines()
    assert orjson.loads(lines[0])["captureData"]["endpointInput"]["data"] == '{"instances": [["SECRET-VALUE"]]}'

    got = platform.capture.read("ep", since="10m")
    assert [r["eventMetadata"]["inferenceId"] for r in got.records] == ["rid-1", "rid-2"]
    big = got.records[1]["captureData"]["endpointInput"]
    assert big["truncated"] and big["originalSizeBytes"] == 80_003
    assert len(big["data"]) == platform.settings.capture_max_bytes
    assert buf.counts[("ep", "written")] == 2 and buf.counts[("ep", "truncated")] == 1
    assert [r["eventMetadata"]["inferenceId"] for r in platform.capture.read("ep", since="10m", limit=1).records] == [
        "rid-2"]
    assert platform.capture.read("ep", since="2h", until="1h").records == []


def test_capture_setting_is_validated_and_kept(platform: Platform) -> None:
    _deploy_row(platform, "ep")
    with pytest.raises(InvalidArgument, match=r"Field 'capture' has value 150\. Expected a percentage"):
        platform.capture.set_percent("ep", 150)
    with pytest.raises(NotFound, match="slipway endpoints list"):
        platform.capture.set_percent("nope", 10)
    assert platform.capture.set_percent("ep", 10).percent == 10
    platform.capture_buffer.percent = {}
    platform.capture.load()  # what a restarted server reads
    assert platform.capture_buffer.percent == {"ep": 10}
    with pytest.raises(InvalidArgument, match="Field 'since' has value 'soon'"):
        platform.capture.read("ep", since="soon")


def test_a_failed_write_is_counted_and_the_other_groups_are_still_written(platform: Platform,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    buf = platform.capture_buffer
    _offer(buf, 2, "broken")
    _offer(buf, 3, "fine")
    real = platform.store.put_bytes

    def put_bytes(key: str, data: bytes):  # type: ignore[no-untyped-def]
        if key.startswith("capture/broken/"):
            raise OSError("disk full")
        return real(key, data)

    monkeypatch.setattr(platform.store, "put_bytes", put_bytes)
    with pytest.raises(OSError, match="disk full"):
        platform.capture.flush()
    assert buf.counts[("broken", "write_failed")] == 2 and buf.counts[("fine", "written")] == 3
    assert len(platform.store.list("capture/fine/")) == 1


def test_a_read_waits_for_a_flush_already_writing(platform: Platform) -> None:
    """The controller's flush has taken the queue and is still writing it when a read (a monitor run, `endpoints
    capture`) flushes: the read waits for that write instead of listing the store without those records."""
    import threading

    _deploy_row(platform, "ep")
    store, writing, go = platform.capture.store, threading.Event(), threading.Event()

    class SlowStore:  # the platform's store, its writes held until the test says go
        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        def put_bytes(self, key: str, data: bytes) -> object:
            writing.set()
            go.wait(30)
            return store.put_bytes(key, data)

    platform.capture.store = SlowStore()  # type: ignore[assignment]
    platform.capture_buffer.offer("ep", "a", "rid-1", "application/json", b"{}", "application/json", b"{}")
    controller = threading.Thread(target=platform.capture.flush)
    controller.start()
    assert writing.wait(30)
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.append(platform.capture.read("ep", since="10m")))
    reader.start()
    reader.join(timeout=1.0)  # the write is held: a read that does not wait for it has answered by now
    go.set()
    controller.join(30)
    reader.join(30)
    assert [r["eventMetadata"]["inferenceId"] for r in got[0].records] == ["rid-1"]  # type: ignore[attr-defined]
