"""A small reconcile-loop framework: one thread per controller, a shared stop event.

When several servers share a database, a controller with ``singleton`` set runs only on the
server that leads it (``slipway.controllers.leader``); the others retry the election each pass
and take over, starting with the controller's recovery, as soon as the leader is gone.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

from slipway.controllers.leader import Election, SingleServer

__all__ = ["Controller", "ControllerManager"]

log = logging.getLogger("slipway.controllers")
# A follower asks for the leadership at most this often: the endpoints controller passes every 0.1 s,
# which would cost each follower ten lock queries a second for a failover only 0.4 s sooner.
FOLLOW_EVERY = 0.5


class Controller(ABC):
    """Subclasses set ``name`` and implement ``reconcile``; it must be idempotent and quick."""

    name: str = "controller"
    interval: float | None = None  # None: the manager's default
    # One server at a time runs it (it acts on shared rows); False: every server runs its own
    # (it tends this server's folder or memory).
    singleton: bool = True
    leading: bool = False  # set by the manager: this server runs it now (started, and leads it when singleton)

    @abstractmethod
    def reconcile(self) -> None: ...

    def start(self) -> None:
        """Called once before the first pass (e.g. to recover after a restart)."""

    def stop(self) -> None:
        """Called once after the last pass."""

    def sleep(self, timeout: float, stop: threading.Event) -> None:
        """Wait between passes; a controller with its own wake-up event overrides this, and ``wake``."""
        stop.wait(timeout)

    def wake(self) -> None:
        """End the current ``sleep`` now (the server is stopping); ``sleep`` on the stop event needs nothing."""


class ControllerManager:
    def __init__(self, controllers: list[Controller], interval: float = 1.0, election: Election | None = None) -> None:
        self.controllers = controllers
        self.interval = interval
        self.election = election or SingleServer()
        self._started: set[str] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.passes: dict[str, int] = {c.name: 0 for c in controllers}

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.controllers]

    def leading(self) -> list[str]:
        """Controllers running on this server now: those it leads and the per-server ones."""
        return [c.name for c in self.controllers if c.name in self._started]

    def _leads(self, c: Controller) -> bool:
        return not c.singleton or self.election.lead(c.name)

    def _start(self, c: Controller) -> None:
        c.leading = True  # before its recovery: what follows a leader (RouteMirror) stands back now
        try:
            c.start()
        except Exception:
            log.exception("Controller %s failed to start", c.name)
        self._started.add(c.name)

    def start(self) -> None:
        """Run the start (recovery) of every controller this server leads, in order, then start the loops;
        a controller led elsewhere starts in its own loop when this server takes it over."""
        for c in self.controllers:
            if self._leads(c):
                self._start(c)
        for c in self.controllers:
            t = threading.Thread(target=self._loop, args=(c,), name=f"controller-{c.name}", daemon=True)
            t.start()
            self._threads.append(t)

    def _loop(self, c: Controller) -> None:
        last_error = ""
        while not self._stop.is_set():
            if not self._leads(c):
                if c.name in self._started:
                    log.warning("Controller %s: this server no longer leads it", c.name)
                    self._started.discard(c.name)  # recover again if it comes back here
                    c.leading = False
                self._stop.wait(max(c.interval or self.interval, FOLLOW_EVERY))
                continue
            if c.name not in self._started:
                log.info("Controller %s: taking over as leader", c.name)
                self._start(c)
            try:
                c.reconcile()
                last_error = ""
            except Exception as exc:  # a controller must never die; log each new error once
                if repr(exc) != last_error:
                    log.exception("Controller %s failed a pass", c.name)
                    last_error = repr(exc)
            self.passes[c.name] += 1
            c.sleep(c.interval or self.interval, self._stop)
        if c.name not in self._started:
            return
        try:
            c.stop()
        except Exception:
            log.exception("Controller %s failed to stop", c.name)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for c in self.controllers:  # each loop sees the stop now, not after the rest of its sleep
            c.wake()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        self.election.close()  # after the last pass: a successor never overlaps this server
