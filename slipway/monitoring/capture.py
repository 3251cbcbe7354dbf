"""Request capture: a sample of invocations (request and answer) queued in memory for a writer thread.

``offer`` runs on the event loop after every answered invocation. It decides cheaply and never
waits: the endpoint's sampling percentage, then a per-endpoint cap on records per second, then a
bounded queue; whatever does not fit is dropped and counted, so capture can never slow a caller.
Serialising the records (SageMaker's data-capture JSON lines) and writing them to the artifact
store happen later, in the capture controller's thread (``drain`` + ``to_record``).
"""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
from collections import deque
from dataclasses import dataclass
from random import random
from typing import Any

__all__ = ["Captured", "CaptureBuffer", "OUTCOMES", "to_record"]

OUTCOMES = ("queued", "over_rate_cap", "queue_full", "truncated", "written", "write_failed")


@dataclass(frozen=True, slots=True)
class Captured:
    endpoint: str
    variant: str
    when: float  # Unix time
    inference_id: str
    input_type: str
    input: bytes
    output_type: str
    output: bytes


class CaptureBuffer:
    def __init__(self, max_queue: int, max_per_second: int) -> None:
        self.max_queue = max_queue
        self.max_per_second = max_per_second
        self.percent: dict[str, float] = {}  # endpoint -> sampling %, default 100 (set by the capture service)
        self.counts: dict[tuple[str, str], int] = {}  # (endpoint, outcome) -> n, since the process started
        self._queue: deque[Captured] = deque()
        self._window: dict[str, list[int]] = {}  # endpoint -> [second, records taken in it]

    def offer(self, endpoint: str, variant: str, inference_id: str, input_type: str, body: bytes,
              output_type: str, output: bytes) -> None:
        pct = self.percent.get(endpoint, 100.0)
        if pct < 100.0 and (pct <= 0.0 or random() * 100.0 >= pct):
            return
        now = time.time()
        second = int(now)
        window = self._window.get(endpoint)
        if window is None or window[0] != second:
            window = self._window[endpoint] = [second, 0]
        if window[1] >= self.max_per_second:
            self.count(endpoint, "over_rate_cap")
            return
        if len(self._queue) >= self.max_queue:
            self.count(endpoint, "queue_full")
            return
        window[1] += 1
        self._queue.append(Captured(endpoint, variant, now, inference_id, input_type, body, output_type, output))
        self.count(endpoint, "queued")

    def count(self, endpoint: str, outcome: str, n: int = 1) -> None:
        key = (endpoint, outcome)
        self.counts[key] = self.counts.get(key, 0) + n

    def drain(self) -> list[Captured]:
        """Everything queued so far (deque pops are atomic: ``offer`` may append meanwhile)."""
        out: list[Captured] = []
        q = self._queue
        while q:
            out.append(q.popleft())
        return out

    def __len__(self) -> int:
        return len(self._queue)


def _data(content_type: str, body: bytes, mode: str, limit: int) -> tuple[dict[str, Any], bool]:
    ct = content_type.split(";", 1)[0].strip().lower()
    truncated = len(body) > limit
    raw = body[:limit] if truncated else body
    if ct == "text/csv":
        encoding, data = "CSV", raw.decode("utf-8", "replace")
    elif ct == "application/json" or ct.endswith("+json"):
        encoding, data = "JSON", raw.decode("utf-8", "replace")
    else:
        encoding, data = "BASE64", base64.b64encode(raw).decode("ascii")
    out: dict[str, Any] = {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}
    if truncated:  # not in SageMaker's format: marks data cut at the size limit (and how long it was)
        out["truncated"] = True
        out["originalSizeBytes"] = len(body)
    return out, truncated


def to_record(c: Captured, limit: int) -> tuple[dict[str, Any], bool]:
    """One record in SageMaker's data-capture format; True when a body was truncated to ``limit`` bytes."""
    endpoint_input, cut_in = _data(c.input_type, c.input, "INPUT", limit)
    endpoint_output, cut_out = _data(c.output_type, c.output, "OUTPUT", limit)
    when = dt.datetime.fromtimestamp(c.when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "captureData": {"endpointInput": endpoint_input, "endpointOutput": endpoint_output},
        "eventMetadata": {"eventId": str(uuid.uuid4()), "inferenceId": c.inference_id, "inferenceTime": when},
        "eventVersion": "0",
    }, cut_in or cut_out
