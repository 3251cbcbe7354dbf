"""Plain ASGI middleware (no per-request framework cost): request ids, unknown errors, audit."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slipway.services.audit import COUNTED_ACTIONS

__all__ = ["AuditMiddleware", "RequestIdMiddleware", "caller_request_id"]

log = logging.getLogger("slipway.api")


def caller_request_id(value: bytes) -> str:
    """A caller's X-Request-ID when it is sane (1-64 letters, digits and dashes), else ""."""
    candidate = value.decode("latin-1")
    return candidate if 0 < len(candidate) <= 64 and candidate.replace("-", "").isalnum() else ""


class RequestIdMiddleware:
    """Gives every request an id (or keeps a sane caller's X-Request-ID) and echoes it back.

    It is also where an unexpected error becomes a 500 with that id: the traceback goes to
    the log, the caller gets the error shape, and (unlike Starlette's own 500 handling, which
    re-raises) the connection stays usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = ""
        for k, v in scope.get("headers", ()):
            if k == b"x-request-id":
                rid = caller_request_id(v)
                break
        rid = rid or secrets.token_hex(8)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        header = (b"x-request-id", rid.encode())

        started = False

        async def _send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [header]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        except Exception:
            log.exception("Unhandled error in %s %s (request %s)", scope.get("method"), scope.get("path"), rid)
            if started:
                raise
            from slipway.api.errors import error_body

            body = error_body("internal", f"Internal error; quote request id {rid} when reporting it.", None, rid)
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"), header,
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


class AuditMiddleware:
    """Feeds every call that declared an action to the audit service, before its response starts.

    Recording before the status line goes out means a client that got its answer can already
    find the event. The ``permission`` dependency leaves the action, resource and caller in the
    request state; the audit service decides whether to record, count or skip the call.
    """

    def __init__(self, app: ASGIApp, platform: Any) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        done = False

        async def _send(message: Message) -> None:
            nonlocal done
            if message["type"] == "http.response.start" and not done:
                done = True
                await self._observe(scope, message["status"])
            await send(message)

        try:
            await self.app(scope, receive, _send)
        except Exception:
            if not done:
                done = True
                await self._observe(scope, 500)
            raise

    async def _observe(self, scope: Scope, code: int) -> None:
        state: dict[str, Any] = scope.get("state", {})
        if "action" not in state:
            return
        outcome = "denied" if code in (401, 403, 429) else "allowed" if code < 400 else "failed"
        client = scope.get("client")
        event = {
            "user": state.get("user", "") or "", "key_id": state.get("key_id", "") or "",
            "action": state["action"], "resource": state.get("resource", ""),
            "method": scope.get("method", ""), "path": scope.get("path", ""),
            "source": client[0] if client else "", "request_id": state.get("request_id", ""),
            "outcome": outcome, "status": code, "message": state.get("error_message", ""),
        }
        audit = self.platform.audit
        if outcome != "denied" and state["action"] in COUNTED_ACTIONS:
            audit.count(event["user"], event["action"], event["resource"])  # in memory: no thread, no write
            return
        if not audit.should_record(state["action"], outcome):
            return
        try:
            await run_in_threadpool(lambda: audit.record(**event))
        except Exception:  # never fail the call over the trail; the log says what was lost
            logging.getLogger("slipway.audit").exception("Could not record audit event %s", event)
