"""Advances every running tuning job: launches trials, feeds the pruner, finishes the search."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slipway.controllers.base import Controller

if TYPE_CHECKING:
    from slipway.services import Platform

log = logging.getLogger("slipway.tuning")


class TuningController(Controller):
    name = "tuning"
    interval = 1.0

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def reconcile(self) -> None:
        service = self.platform.tuning
        for name in service.active():
            try:
                service.advance(name)
            except Exception:  # one broken tuning job must not stall the others
                log.exception("Tuning job %s: pass failed", name)
