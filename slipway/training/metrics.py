"""``slipway.log_metric`` for code running inside a job: one JSON line per value, tailed by the platform.

Standard library only, so importing it costs nothing in a job process.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time

__all__ = ["METRICS_FILE_ENV", "log_metric"]

METRICS_FILE_ENV = "SLIPWAY_METRICS_FILE"
_lock = threading.Lock()


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record ``value`` of metric ``name`` (at ``step``) for the running job; a no-op outside a job."""
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise ValueError(f"Metric name {name!r} is not valid. Expected a non-empty string of at most 255 characters.")
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise ValueError(f"Metric {name!r} has value {value!r}. Expected a number.")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"Metric {name!r} has value {number!r}. Expected a finite number.")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise ValueError(f"Metric {name!r} has step {step!r}. Expected an int or None.")
    path = os.environ.get(METRICS_FILE_ENV)
    if not path:
        return
    line = json.dumps({"name": name, "value": number, "step": step, "timestamp": time.time()}) + "\n"
    with _lock, open(path, "a", encoding="utf-8") as f:
        f.write(line)
