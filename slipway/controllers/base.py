"""A small reconcile-loop framework: one thread per controller, a shared stop event."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

__all__ = ["Controller", "ControllerManager"]

log = logging.getLogger("slipway.controllers")


class Controller(ABC):
    """Subclasses set ``name`` and implement ``reconcile``; it must be idempotent and quick."""

    name: str = "controller"
    interval: float | None = None  # None: the manager's default

    @abstractmethod
    def reconcile(self) -> None: ...

    def start(self) -> None:
        """Called once before the first pass (e.g. to recover after a restart)."""

    def stop(self) -> None:
        """Called once after the last pass."""

    def sleep(self, timeout: float, stop: threading.Event) -> None:
        """Wait between passes; a controller with its own wake-up event overrides this."""
        stop.wait(timeout)


class ControllerManager:
    def __init__(self, controllers: list[Controller], interval: float = 1.0) -> None:
        self.controllers = controllers
        self.interval = interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.passes: dict[str, int] = {c.name: 0 for c in controllers}

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.controllers]

    def start(self) -> None:
        """Run every controller's start (recovery) in order, then start the loops."""
        for c in self.controllers:
            try:
                c.start()
            except Exception:
                log.exception("Controller %s failed to start", c.name)
        for c in self.controllers:
            t = threading.Thread(target=self._loop, args=(c,), name=f"controller-{c.name}", daemon=True)
            t.start()
            self._threads.append(t)

    def _loop(self, c: Controller) -> None:
        last_error = ""
        while not self._stop.is_set():
            try:
                c.reconcile()
                last_error = ""
            except Exception as exc:  # a controller must never die; log each new error once
                if repr(exc) != last_error:
                    log.exception("Controller %s failed a pass", c.name)
                    last_error = repr(exc)
            self.passes[c.name] += 1
            c.sleep(c.interval or self.interval, self._stop)
        try:
            c.stop()
        except Exception:
            log.exception("Controller %s failed to stop", c.name)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
