"""Builds the FastAPI application around a Platform; nothing here holds rules."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from slipway import __version__
from slipway.api.deps import check_routes_protected
from slipway.api.docs import mount_docs
from slipway.api.errors import document_errors, install_error_handlers
from slipway.api.invoke import InvocationFastPath
from slipway.api.middleware import AuditMiddleware, RequestIdMiddleware
from slipway.api.routers import (
    algorithms,
    audit,
    datasets,
    endpoints,
    jobs,
    keys,
    models,
    roles,
    secrets,
    system,
    tuning,
    users,
)
from slipway.compat.dispatch import AwsDispatch
from slipway.services import Platform

__all__ = ["ROUTERS", "create_app", "serving_app"]

ROUTERS = [system.router, datasets.router, jobs.router, algorithms.router, models.router, endpoints.router,
           endpoints.invocations, users.router, keys.router, roles.router, audit.router, secrets.router,
           tuning.router]


def create_app(platform: Platform) -> FastAPI:
    app = FastAPI(
        title="Slipway",
        version=__version__,
        description="Self-hosted ML platform: datasets, training, registry, endpoints.",
        docs_url=None,  # served from the package by mount_docs, not from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.platform = platform
    for router in ROUTERS:
        app.include_router(router)
    from slipway.web import mount_web

    mount_web(app)
    mount_docs(app)
    check_routes_protected(app.routes)
    install_error_handlers(app)
    document_errors(app)
    app.add_middleware(AwsDispatch, platform=platform)  # boto3 / SageMaker SDK calls (slipway/compat/dispatch.py)
    app.add_middleware(AuditMiddleware, platform=platform)  # inside RequestIdMiddleware: sees the request id
    app.add_middleware(RequestIdMiddleware)
    return app


def serving_app(app: FastAPI) -> ASGIApp:
    """What the server runs: ``app`` behind the invocation hot path (plain ASGI, outside FastAPI's own
    middleware, so a served invocation pays for none of it; see slipway/api/invoke.py)."""
    return InvocationFastPath(app, app.state.platform)
