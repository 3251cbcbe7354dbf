"""Builds the FastAPI application around a Platform; nothing here holds rules."""

from __future__ import annotations

from fastapi import FastAPI

from slipway import __version__
from slipway.api.errors import install_error_handlers
from slipway.api.middleware import RequestIdMiddleware
from slipway.api.routers import datasets, endpoints, models, system
from slipway.services import Platform

__all__ = ["ROUTERS", "create_app"]

ROUTERS = [system.router, datasets.router, models.router, endpoints.router, endpoints.invocations]


def create_app(platform: Platform) -> FastAPI:
    app = FastAPI(
        title="Slipway",
        version=__version__,
        description="Self-hosted ML platform: datasets, training, registry, endpoints.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.platform = platform
    for router in ROUTERS:
        app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    return app
