"""The logs of an endpoint's replicas, one stream per replica, read from the files the replicas write.

Each replica writes its output (the loading line, warnings, the model's own prints) to
``<home>/serving/logs/<endpoint>-<variant>-<replica id>.log``. A line's time is the one it starts
with (``2026-12-02 16:10:32,123``, as Python's logging and the replica write it, in the server's
local time); a line without one has the time of the line before it (the first stamped line's for
those before it, else the file's modification time). Offsets are bytes into the file, so a reader
following a replica gets each line once.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EndpointLogs", "LogEvent", "LogStream"]

_STAMP = re.compile(rb"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,6}))?")
MAX_READ = 1024 * 1024


@dataclass(frozen=True)
class LogStream:
    variant: str
    replica_id: str
    path: Path
    size: int
    first_ms: int
    last_ms: int

    @property
    def name(self) -> str:
        """As SageMaker names an endpoint's streams: ``<variant>/<instance id>``."""
        return f"{self.variant}/{self.replica_id}"


@dataclass(frozen=True)
class LogEvent:
    timestamp: int  # ms since the epoch
    message: str
    offset: int  # of the line in the file
    end: int  # of the line's newline + 1


def _stamp_ms(line: bytes) -> int | None:
    m = _STAMP.match(line)
    if m is None:
        return None
    try:
        when = dt.datetime.strptime(f"{m.group(1).decode()} {m.group(2).decode()}", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    frac = (m.group(3) or b"0").decode().ljust(6, "0")
    return int(time.mktime(when.timetuple())) * 1000 + int(frac) // 1000


class EndpointLogs:
    def __init__(self, logs_dir: Path) -> None:
        self.logs_dir = logs_dir

    def streams(self, endpoint: str, variants: Iterable[str]) -> list[LogStream]:
        """Every replica log of ``endpoint`` whose variant is one of ``variants``, by stream name."""
        out = []
        for variant in set(variants):
            head = f"{endpoint}-{variant}-"
            for path in self.logs_dir.glob(f"{glob_escape(head)}*.log"):
                rid = path.name[len(head):-len(".log")]
                if not re.fullmatch(r"[0-9a-f]{6,32}", rid):
                    continue
                try:
                    st = path.stat()
                except OSError:
                    continue
                last = int(st.st_mtime * 1000)
                first = self._first_stamp(path) or last
                out.append(LogStream(variant, rid, path, st.st_size, min(first, last), last))
        return sorted(out, key=lambda s: s.name)

    @staticmethod
    def _first_stamp(path: Path) -> int | None:
        try:
            with open(path, "rb") as f:
                for line in f.read(64 * 1024).splitlines():
                    ms = _stamp_ms(line)
                    if ms is not None:
                        return ms
        except OSError:
            return None
        return None

    def events(self, stream: LogStream, offset: int, final: bool = False) -> tuple[list[LogEvent], int]:
        """The whole lines from byte ``offset`` (at most about 1 MB of them) and the offset after them.

        A last line without its newline yet is left for the next call unless ``final``."""
        try:
            with open(stream.path, "rb") as f:
                data = f.read(offset + MAX_READ)
        except OSError:
            return [], offset
        if not final and len(data) > offset:
            data = data[:data.rfind(b"\n") + 1] if b"\n" in data[offset:] else data[:offset]
        events: list[LogEvent] = []
        current = stream.first_ms
        pos = 0
        for line in data.splitlines(keepends=True):
            start, pos = pos, pos + len(line)
            ms = _stamp_ms(line)
            if ms is not None:
                current = ms
            if start >= offset:
                events.append(LogEvent(current, line.rstrip(b"\r\n").decode("utf-8", "replace"), start, pos))
        return events, max(offset, pos)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
