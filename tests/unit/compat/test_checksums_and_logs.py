"""S3's checksum algorithms without awscrt, and the reading of replica logs as CloudWatch streams."""

from __future__ import annotations

import base64
import datetime as dt
import os
import time
from pathlib import Path

import pytest

from slipway.compat.checksums import Crc32c, Crc64Nvme, checksum_for
from slipway.services.dataset_bucket import dataset_of, ref_of_prefix
from slipway.services.endpoint_logs import EndpointLogs


@pytest.mark.parametrize(("name", "check"), [("crc32c", 0xE3069283), ("crc64nvme", 0xAE8B14860A799888),
                                             ("crc32", 0xCBF43926)])
def test_checksums_match_the_catalogued_check_values(name: str, check: int) -> None:
    c = checksum_for(name)
    assert c is not None
    c.update(b"1234")
    c.update(b"56789")  # in pieces, as a body streams in
    width = 8 if name == "crc64nvme" else 4
    assert c.b64digest() == base64.b64encode(check.to_bytes(width, "big")).decode()


def test_our_crcs_and_unknown_algorithms() -> None:
    a, b = Crc32c(), Crc64Nvme()
    for c in (a, b):
        c.update(b"")
    assert a.value() == 0 and b.value() == 0  # the CRC of nothing
    assert checksum_for("md5") is None and checksum_for("crc16") is None


def test_dataset_bucket_keys() -> None:
    assert ref_of_prefix("iris/3") == ref_of_prefix("iris/3/") == "iris:3"
    assert ref_of_prefix("iris/3/train.csv") is None and ref_of_prefix("iris/latest/") is None
    assert dataset_of("iris/3/a.csv") == dataset_of("iris/") == "iris"
    assert dataset_of("iris") is None and dataset_of("") is None


def test_replica_logs_as_streams_and_events(tmp_path: Path) -> None:
    stamp = dt.datetime(2026, 12, 2, 16, 10, 32)
    ms = int(time.mktime(stamp.timetuple())) * 1000 + 123
    (tmp_path / "ep-AllTraffic-0123456789ab.log").write_bytes(
        b"an early line\n2026-12-02 16:10:32,123 INFO replica ep/AllTraffic: model loaded, serving\n"
        b"Traceback (most recent call last):\n2026-12-02 16:10:33,500 WARNING late\nhalf a li")
    (tmp_path / "ep-2-AllTraffic-aaaaaaaaaaaa.log").write_bytes(b"another endpoint's\n")  # endpoint "ep-2"
    (tmp_path / "standby-0123456789ab.log").write_bytes(b"x\n")
    logs = EndpointLogs(tmp_path)
    [stream] = logs.streams("ep", ["AllTraffic", "Other"])
    assert stream.name == "AllTraffic/0123456789ab" and stream.first_ms == ms
    events, end = logs.events(stream, 0)
    assert [(e.timestamp, e.message) for e in events] == [
        (ms, "an early line"), (ms, "2026-12-02 16:10:32,123 INFO replica ep/AllTraffic: model loaded, serving"),
        (ms, "Traceback (most recent call last):"), (ms + 1377, "2026-12-02 16:10:33,500 WARNING late")]
    assert events[2].offset == events[1].end and end == events[-1].end  # the half line waits for its newline
    again, end2 = logs.events(stream, end)
    assert again == [] and end2 == end
    with open(stream.path, "ab") as f:
        f.write(b"ne\n")
    [tail], _ = logs.events(stream, end)
    assert (tail.timestamp, tail.message) == (ms + 1377, "half a line")
    os.utime(stream.path, (0, 0))
    assert logs.streams("ep", ["AllTraffic"])[0].first_ms == 0  # never after the file's last write
