"""Training baselines of newly registered models, drift monitor schedules and alarm evaluation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from slipway.controllers.base import Controller
from slipway.db.base import utcnow

if TYPE_CHECKING:
    from slipway.services import Platform


class BaselineBuilder(Controller):
    """Computes the baseline of each model version registered from a job (off the registration request)."""

    name = "baselines"
    interval = 5.0

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def reconcile(self) -> None:
        self.platform.baselines.compute_pending()


class MonitorScheduler(Controller):
    """Runs each drift monitor whose next run is due."""

    name = "monitors"
    interval = 5.0

    def __init__(self, platform: Platform, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.platform = platform
        self.clock = clock  # injectable for tests

    def reconcile(self) -> None:
        self.platform.monitors.run_due(self.clock())


class AlarmEvaluator(Controller):
    """Evaluates every alarm and runs the actions of those whose state changed."""

    name = "alarms"
    interval = 2.0

    def __init__(self, platform: Platform, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.platform = platform
        self.clock = clock

    def reconcile(self) -> None:
        self.platform.alarms.evaluate(self.clock())


class AlarmNotifier(Controller):
    """Sends the webhooks of alarm state changes (queued by the evaluation), each try with a short timeout,
    retried with backoff; the outcome goes into the alarm's history. Its own thread, so a receiver that hangs
    never delays the evaluation of any alarm."""

    name = "alarm-notifications"
    interval = 0.5

    def __init__(self, platform: Platform, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.platform = platform
        self.clock = clock

    def reconcile(self) -> None:
        self.platform.alarms.deliver_due(self.clock())
