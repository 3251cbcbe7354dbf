"""Starts Pending training jobs within the executor's capacity, follows running ones, finishes ended ones.

Woken at once by the training service (a new job, a stop) and by the executor (a process ended),
so a job starts without waiting for the next pass. Slow work (copying data, uploading models)
runs on a small thread pool, one task per job at a time.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from slipway.controllers.base import Controller

if TYPE_CHECKING:
    from slipway.services import Platform

__all__ = ["JobsController"]

log = logging.getLogger("slipway.jobs")


class JobsController(Controller):
    name = "jobs"
    interval = 0.5

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.runs = platform.job_runs
        self.wakeup = platform.training.wakeup
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="jobs")
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    def _submit(self, name: str, fn: Any) -> None:
        with self._lock:
            if name in self._busy:
                return
            self._busy.add(name)

        def _run() -> None:
            try:
                fn(name)
            except Exception:
                log.exception("Job %s: %s failed", name, getattr(fn, "__name__", fn))
            finally:
                with self._lock:
                    self._busy.discard(name)
                self.wakeup.set()

        self._pool.submit(_run)

    def start(self) -> None:
        for name in self.runs.recover():
            self._submit(name, self.runs.finish)

    def reconcile(self) -> None:
        self.wakeup.clear()
        active = self.runs.active()
        for name, status, handle in active:
            with self._lock:
                if name in self._busy:
                    continue
            if handle is None:
                if status == "Stopping":  # stopped while its folder was being prepared
                    self.runs._end(name, "Stopped", "Stopped", None)
                continue
            try:
                self.runs.pump(name)
                if self.runs.check(name, status, handle):
                    self._submit(name, self.runs.finish)
            except Exception:
                log.exception("Following job %s failed", name)
        slots = self.runs.executor.capacity() - len(active)
        for name in self.runs.claim(slots):
            self._submit(name, self.runs.launch)

    def wake(self) -> None:
        self.wakeup.set()

    def sleep(self, timeout: float, stop: threading.Event) -> None:
        self.wakeup.wait(timeout)

    def stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
