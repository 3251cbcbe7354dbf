"""Runs Pending batch transform jobs, a few at a time, each in a worker thread (see services/transforms.py)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from slipway.controllers.base import Controller

if TYPE_CHECKING:
    from slipway.services import Platform

__all__ = ["TransformController"]

log = logging.getLogger("slipway.controllers.transforms")


class TransformController(Controller):
    name = "transforms"
    interval = 1.0
    at_once = 2  # jobs running at once on this server

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.service = platform.transforms
        self._pool = ThreadPoolExecutor(max_workers=self.at_once, thread_name_prefix="transforms")
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        n = self.service.recover()
        if n:
            log.info("Starting %d transform job(s) again that an earlier server left running", n)

    def wake(self) -> None:
        self.service.wakeup.set()

    def sleep(self, timeout: float, stop: threading.Event) -> None:
        self.service.wakeup.wait(timeout)
        self.service.wakeup.clear()

    def reconcile(self) -> None:
        with self._lock:
            free = self.at_once - len(self._running)
        for name in self.service.claim(free):
            with self._lock:
                self._running.add(name)
            self._pool.submit(self._run, name)

    def _run(self, name: str) -> None:
        try:
            self.service.run(name)
        finally:
            with self._lock:
                self._running.discard(name)
            self.service.wakeup.set()

    def stop(self) -> None:
        # Jobs in flight stop sending and stop their replicas; they stay InProgress and the next start runs
        # them again from the beginning (recover).
        self.service.stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
