"""Services hold every rule of the platform; API, CLI and UI only parse, call and render."""

from __future__ import annotations

from slipway.services.context import Platform

__all__ = ["Platform"]
