"""The one place errors become HTTP responses: {"error": {code, message, details, request_id}}."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from slipway.errors import SlipwayError
from slipway.services.context import is_dashboard_path

log = logging.getLogger("slipway.api")

__all__ = ["error_body", "error_response", "install_error_handlers"]

_HTTP_CODES = {400: "invalid_argument", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
               429: "too_many_requests", 503: "unavailable", 504: "timeout"}


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


def _describe_validation(errors: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = ".".join(loc) or str(first.get("loc", ["request"])[0])
    value = first.get("input")
    shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    message = f"Field {field!r} has value {shown}: {first.get('msg', 'invalid')}."
    return message, {"field": field, "errors": [{"loc": e.get("loc"), "msg": e.get("msg")} for e in errors[:20]]}


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
        message, details = _describe_validation(list(exc.errors()))
        if is_dashboard_path(request.url.path):
            from slipway.web.pages import error_page

            return error_page(request, 400, "invalid_argument", message)
        return error_response(400, "invalid_argument", message, details, _rid(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"No route {request.method} {request.url.path}. See /docs for the API."
        if is_dashboard_path(request.url.path) and exc.status_code in (404, 405):
            from slipway.web.pages import error_page

            return error_page(request, exc.status_code, code, f"No page {request.method} {request.url.path}.")
        return error_response(exc.status_code, code, message, None, _rid(request), getattr(exc, "headers", None))
