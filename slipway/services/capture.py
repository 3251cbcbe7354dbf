"""Request capture: per-endpoint sampling settings, writing queued records to the artifact store as
SageMaker data-capture JSON lines (encrypted at rest by the store), and reading them back by time."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import defaultdict
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slipway.db import Database
from slipway.db.base import utcnow
from slipway.db.models import Endpoint, EndpointCapture
from slipway.errors import InvalidArgument, NotFound
from slipway.monitoring.capture import CaptureBuffer, Captured, to_record
from slipway.names import check_name
from slipway.schemas.capture import CaptureConfig, CaptureRecords
from slipway.services.metrics import time_range
from slipway.storage import ArtifactStore

__all__ = ["PREFIX", "CaptureService"]

PREFIX = "capture"  # capture/<endpoint>/<variant>/YYYY/MM/DD/HH/<time>-<id>.jsonl


class CaptureService:
    def __init__(self, db: Database, store: ArtifactStore, buffer: CaptureBuffer, max_bytes: int) -> None:
        self.db = db
        self.store = store
        self.buffer = buffer
        self.max_bytes = max_bytes
        # One flush at a time: a read flushes first, and must not list the store while the controller's flush
        # has drained the queue but not yet written it (the read would miss requests answered before it).
        self._flushing = threading.Lock()

    def load(self) -> None:
        """Give the in-memory buffer every endpoint's sampling percentage (at start)."""
        with self.db.session() as s:
            self.buffer.percent = {r.endpoint: r.percent for r in s.execute(select(EndpointCapture)).scalars()}

    def config(self, endpoint: str, percent: float) -> CaptureConfig:
        return CaptureConfig(endpoint=endpoint, percent=percent, max_per_second=self.buffer.max_per_second,
                             max_bytes=self.max_bytes)

    def set_percent(self, endpoint: str, percent: float) -> CaptureConfig:
        check_name(endpoint, "endpoint")
        if not 0.0 <= percent <= 100.0:
            raise InvalidArgument(
                f"Field 'capture' has value {percent:g}. Expected a percentage of requests in the range [0, 100] "
                "(0 turns capture off).", {"field": "capture", "value": percent})

        def _do(s: Session) -> None:
            if s.scalar(select(func.count(Endpoint.id)).where(Endpoint.name == endpoint)) == 0:
                raise NotFound(f"Endpoint {endpoint!r} not found. List endpoints with: slipway endpoints list",
                               {"endpoint": endpoint})
            row = s.execute(select(EndpointCapture).where(EndpointCapture.endpoint == endpoint)).scalar_one_or_none()
            if row is None:
                s.add(EndpointCapture(endpoint=endpoint, percent=percent))
            else:
                row.percent = percent

        self.db.run(_do)
        self.buffer.percent = {**self.buffer.percent, endpoint: percent}  # one reference swap for the hot path
        return self.config(endpoint, percent)

    def flush(self) -> int:
        """Write everything queued as one object per endpoint, variant and hour; return records written.

        Returns once every record queued before the call is in the store, also those another thread's flush
        took from the queue first."""
        with self._flushing:
            return self._flush()

    def _flush(self) -> int:
        pending = self.buffer.drain()
        if not pending:
            return 0
        groups: dict[tuple[str, str, str], list[Captured]] = defaultdict(list)
        for c in pending:
            hour = dt.datetime.fromtimestamp(c.when, dt.UTC).strftime("%Y/%m/%d/%H")
            groups[(c.endpoint, c.variant, hour)].append(c)
        written = 0
        failure: Exception | None = None
        for (endpoint, variant, hour), items in groups.items():
            lines = []
            truncated = 0
            for c in items:
                record, cut = to_record(c, self.max_bytes)
                truncated += cut
                lines.append(orjson.dumps(record))
            stamp = dt.datetime.fromtimestamp(items[0].when, dt.UTC).strftime("%Y-%m-%dT%H-%M-%S")
            key = f"{PREFIX}/{endpoint}/{variant}/{hour}/{stamp}-{uuid.uuid4().hex[:8]}.jsonl"
            try:
                self.store.put_bytes(key, b"\n".join(lines) + b"\n")
            except Exception as exc:  # the store is down: these records are lost, visibly; try the other groups
                self.buffer.count(endpoint, "write_failed", len(items))
                failure = failure or exc
                continue
            self.buffer.count(endpoint, "written", len(items))
            if truncated:
                self.buffer.count(endpoint, "truncated", truncated)
            written += len(items)
        if failure is not None:
            raise failure  # the controller logs it
        return written

    def read(self, endpoint: str, since: str = "1h", until: str | None = None, limit: int = 100) -> CaptureRecords:
        """Captured records of ``endpoint`` whose inference time is in [since, until], the newest ``limit``."""
        check_name(endpoint, "endpoint")
        if not 1 <= limit <= 10000:
            raise InvalidArgument(f"Field 'limit' has value {limit}. Expected an int in the range [1, 10000].",
                                  {"field": "limit", "value": limit})
        start, end = time_range(since, until, utcnow())
        self.flush()
        records: list[dict[str, Any]] = []
        for key in self.store.list(f"{PREFIX}/{endpoint}/"):
            parts = key.split("/")  # capture, endpoint, variant, YYYY, MM, DD, HH, file
            try:
                hour = dt.datetime(int(parts[3]), int(parts[4]), int(parts[5]), int(parts[6]), tzinfo=dt.UTC)
            except (IndexError, ValueError):
                continue
            if hour + dt.timedelta(hours=1) < start or hour > end:
                continue
            for line in self.store.read_bytes(key).splitlines():
                if not line:
                    continue
                record = orjson.loads(line)
                when = dt.datetime.fromisoformat(record["eventMetadata"]["inferenceTime"].replace("Z", "+00:00"))
                if start <= when <= end:
                    records.append(record)
        records.sort(key=lambda r: r["eventMetadata"]["inferenceTime"])
        return CaptureRecords(endpoint=endpoint, since=start.isoformat(), until=end.isoformat(),
                              records=records[-limit:])
