"""Waiting for a condition in tests, instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["pid_alive", "wait_for"]


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "", interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
