"""The REST API: a FastAPI app with one router per resource, thin over the services."""

from __future__ import annotations

from slipway.api.app import create_app, serving_app

__all__ = ["create_app", "serving_app"]
