"""Background reconcile loops: each compares desired state in the database with the world and acts."""

from __future__ import annotations

from slipway.controllers.base import Controller, ControllerManager
from slipway.controllers.endpoints import EndpointController
from slipway.controllers.housekeeping import TmpCleaner

__all__ = ["Controller", "ControllerManager", "EndpointController", "TmpCleaner", "default_controllers"]


def default_controllers(platform: object) -> list[Controller]:
    """Every controller the server runs; later features register theirs here."""
    return [TmpCleaner(platform), EndpointController(platform)]  # type: ignore[arg-type]
