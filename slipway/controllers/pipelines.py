"""Starts pipeline runs (due schedules, events that triggers match) and advances them: starts ready steps
as jobs, follows them, evaluates conditions, ends runs.

Everything it acts on is in the database (runs and their step rows), so a restart resumes where
the last pass left off; job names are fixed per run, step and attempt, so nothing starts twice.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from slipway.controllers.base import Controller

if TYPE_CHECKING:
    from slipway.services import Platform

__all__ = ["PipelinesController"]


class PipelinesController(Controller):
    name = "pipelines"
    interval = 0.5

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.pipelines = platform.pipelines

    def reconcile(self) -> None:
        self.pipelines.wakeup.clear()
        self.pipelines.fire_schedules()
        self.pipelines.fire_triggers()
        self.pipelines.advance_all()

    def wake(self) -> None:
        self.pipelines.wakeup.set()

    def sleep(self, timeout: float, stop: threading.Event) -> None:
        self.pipelines.wakeup.wait(timeout)
