"""The one place errors become HTTP responses: {"error": {code, message, details, request_id}}.

It is also where the OpenAPI document learns that shape: ``error_responses`` declares it for a route's
own statuses, and ``document_errors`` adds the statuses every operation shares (400 in place of
FastAPI's 422, 401/403/429 from the permission check, 404 where a path names something, 409 on changes).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from slipway.api.deps import OPEN_PATHS, iter_routes
from slipway.errors import SlipwayError, invalid_argument_from_validation
from slipway.services.context import is_dashboard_path

log = logging.getLogger("slipway.api")

__all__ = ["ErrorResponse", "binary_response", "document_errors", "error_body", "error_response", "error_responses",
           "install_error_handlers"]

_HTTP_CODES = {400: "invalid_argument", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
               429: "too_many_requests", 503: "unavailable", 504: "timeout"}


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable machine-readable code (invalid_argument, not_found, conflict…).")
    message: str = Field(description="What failed, the bad value, what was expected, and the next step.")
    details: dict[str, Any] = Field(description="The field, the value and other specifics, when there are any.")
    request_id: str | None = Field(description="Quote it when reporting a problem; also in X-Request-ID.")


class ErrorResponse(BaseModel):
    """Every error the API answers, whatever the status."""

    error: ErrorInfo


_MEANINGS = {
    400: "Bad input: the message names the field, the value and what was expected.",
    401: "No API key, or one that is not valid (expired, revoked, unknown).",
    403: "The key's policy does not allow this action on this resource.",
    404: "The named resource (or a version, alias or job it refers to) does not exist.",
    406: "The Accept header asks for a type this operation cannot give.",
    409: "The request conflicts with the current state: it exists already, is in use, or is not in a state that "
         "allows this.",
    413: "The body is over the size limit.",
    415: "The Content-Type is not one this operation takes.",
    429: "Too many failed authentications from this source or key; Retry-After says when to try again.",
    503: "Not available right now (no healthy replica, queue full); try again.",
    504: "The model took longer than the time limit.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the error shape under each of ``statuses``."""
    return {status: {"model": ErrorResponse, "description": _MEANINGS[status]} for status in statuses}


def binary_response(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that streams a file: its 200 is ``media_type`` bytes, not JSON."""
    return {200: {"description": description,
                  "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}}


def _error_ref() -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` list the statuses every operation shares, in the one error shape.

    FastAPI documents a 422 with its own body wherever a parameter is validated; we answer 400 with ours.
    Every operation behind a ``permission`` check can answer 401, 403 and 429; one whose path or body names a
    resource can answer 404; every change can answer 409 (exists already, in use, not in a state that allows
    it). A route declares what is its own (413, 415, 503…) with ``error_responses``.
    """

    fastapi_openapi = app.openapi
    done = False

    def openapi() -> dict[str, Any]:
        nonlocal done
        schema = fastapi_openapi()  # built once and cached by FastAPI; amended here once
        if done:
            return schema
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        shape = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in {**shape.pop("$defs", {}), "ErrorResponse": shape}.items():
            components.setdefault(name, definition)
        for path, operations in schema.get("paths", {}).items():
            for method, op in operations.items():
                responses = op.setdefault("responses", {})
                shared = [400] if responses.pop("422", None) is not None or op.get("requestBody") else []
                if path not in OPEN_PATHS:
                    shared += [401, 403, 429]
                if op.get("requestBody") or any(p.get("in") == "path" for p in op.get("parameters", [])):
                    shared.append(404)  # the named resource, or one the body refers to (a role, a dataset…)
                if method != "get":
                    shared.append(409)
                for status in shared:
                    responses.setdefault(str(status), {"description": _MEANINGS[status], **_error_ref()})
                op["responses"] = dict(sorted(responses.items()))
        done = True
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _allowed_methods(request: Request) -> str:
    """Every method of the path's routes (Starlette's 405 names only the one route it tried).

    Where templates overlap (``…/versions/from-job`` and ``…/versions/{version}``), the most literal one
    wins: that is the resource the OpenAPI document describes for this path.
    """
    table = getattr(request.app.state, "method_table", None)
    if table is None:
        table = [(compile_path(path)[0], path.count("{"), methods)
                 for methods, path, _ in iter_routes(request.app.routes)]
        request.app.state.method_table = table
    matches = [(params, methods) for regex, params, methods in table if regex.match(request.url.path)]
    fewest = min((params for params, _ in matches), default=0)
    return ", ".join(sorted(set().union(*(methods for params, methods in matches if params == fewest))))


def error_body(code: str, message: str, details: dict[str, Any] | None, request_id: str | None) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "details": details or {}, "request_id": request_id}},
                        default=str)


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None, request_id: str | None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(error_body(code, message, details, request_id), status_code=status, headers=headers,
                    media_type="application/json")


def _rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SlipwayError)
    async def _slipway(request: Request, exc: SlipwayError) -> Response:
        dashboard = is_dashboard_path(request.url.path)
        if exc.status_code == 401 and dashboard:
            target = request.url.path if request.method in ("GET", "HEAD") else "/"
            return RedirectResponse(f"/ui/login?next={quote(target)}", status_code=303)
        headers = {"Retry-After": str(exc.details["retry_after"])} if "retry_after" in exc.details else None
        request.state.error_message = exc.message  # for the audit trail
        if dashboard:  # a person in a browser: the same message, on a page
            from slipway.web.pages import error_page

            return error_page(request, exc.status_code, exc.code, exc.message, headers)
        return error_response(exc.status_code, exc.code, exc.message, exc.details, _rid(request), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        err = invalid_argument_from_validation(list(exc.errors()))
        if is_dashboard_path(request.url.path):
            from slipway.web.pages import error_page

            return error_page(request, 400, err.code, err.message)
        return error_response(err.status_code, err.code, err.message, err.details, _rid(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = str(exc.detail)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 404 and message == "Not Found":
            message = f"No route {request.method} {request.url.path}. See /docs for the API."
        if is_dashboard_path(request.url.path) and exc.status_code in (404, 405):
            from slipway.web.pages import error_page

            return error_page(request, exc.status_code, code, f"No page {request.method} {request.url.path}.")
        if exc.status_code == 405:
            allow = _allowed_methods(request)
            headers = {**(headers or {}), "Allow": allow}
            message = f"{request.method} is not allowed on {request.url.path}. Allowed: {allow}."
        return error_response(exc.status_code, code, message, None, _rid(request), headers)
