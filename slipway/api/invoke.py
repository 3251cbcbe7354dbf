"""The hot path of ``POST /endpoints/{name}/invocations``: plain ASGI in front of FastAPI.

FastAPI's routing, dependency solving and the thread hop of the (sync) permission check cost about
1 ms of CPU per request, ten times what a replica spends answering. This handler takes a request
only when everything it needs is in memory: the caller's key is in the authentication cache, the
key's policies allow ``endpoints:Invoke`` on the endpoint, and the endpoint has a route. Anything
else (no key, an uncached or denied key, an unknown endpoint) goes to the FastAPI route, which
stays the reference implementation: it authenticates against the database, records denials in
the audit trail and explains every error. Both answer with the same headers and error shape.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from slipway.api.errors import error_body
from slipway.api.middleware import caller_request_id
from slipway.errors import PayloadTooLarge, SlipwayError
from slipway.services.policies import evaluate
from slipway.serving.gateway import MODEL_HEADER, TARGET_HEADER, VARIANT_HEADER

__all__ = ["InvocationFastPath", "payload_too_large"]

log = logging.getLogger("slipway.api")

ACTION = "endpoints:Invoke"
_PATH = re.compile(r"/endpoints/([^/]+)/invocations")
_JSON = b"application/json"
_VARIANT = VARIANT_HEADER.lower().encode()
_MODEL = MODEL_HEADER.lower().encode()
_TARGET = TARGET_HEADER.lower().encode()
# Request ids of the hot path: this process's random prefix and a counter (16 hex digits, as the full
# path's), unique without a getrandom system call per request.
_RID_PREFIX = secrets.token_hex(4)
_rid_counter = itertools.count(1)


def _request_id() -> str:
    return f"{_RID_PREFIX}{next(_rid_counter) & 0xFFFFFFFF:08x}"


class InvocationFastPath:
    def __init__(self, app: ASGIApp, platform: Any) -> None:
        self.app = app
        self.platform = platform
        # (id of the principal, endpoint) -> (that principal, whether its policies allow invoking the endpoint).
        # A principal is immutable and replaced whenever its key or policies change (the auth cache is cleared
        # or refreshed), so an entry for a replaced principal never matches again: revocation stays instant.
        self._allowed: dict[tuple[int, str], tuple[Any, bool]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            m = _PATH.fullmatch(scope["path"])
            if m is not None and await self._try(m.group(1), scope, receive, send):
                return
        await self.app(scope, receive, send)

    async def _try(self, name: str, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer the request and return True, or return False (nothing read, nothing sent)."""
        p = self.platform
        authorization = content_type = accept = target = rid = None
        length = -1
        for k, v in scope["headers"]:
            if k == b"authorization":
                authorization = v.decode("latin-1")
            elif k == b"content-type":
                content_type = v.decode("latin-1")
            elif k == b"accept":
                accept = v.decode("latin-1")
            elif k == b"content-length":
                length = int(v) if v.isdigit() else -1
            elif k == _TARGET:
                target = v.decode("latin-1")
            elif k == b"x-request-id":
                rid = caller_request_id(v) or None
        client = scope.get("client")
        # A key unknown here (wrong, or not cached yet) takes the full path, which verifies it, throttles
        # wrong ones (429) and records them; a known key is never throttled, on either path.
        principal = p.auth.peek(authorization, client[0] if client else "")
        if principal is None or not self._allows(principal, name) or not p.serving.gateway.routed(name):
            return False
        resource = f"endpoint/{name}"
        rid = rid or _request_id()
        p.audit.count(principal.user, ACTION, resource)  # in memory, flushed by a controller
        try:
            try:
                body = await _read_body(receive, length, p.settings.max_payload_bytes)
            except PayloadTooLarge:
                p.serving.gateway.count_refused(name, 413)
                raise
            if body is None:
                return True  # the caller left: nobody to answer
            result = await p.serving.gateway.invoke(name, body, content_type or "application/json", accept or "",
                                                    target, rid)
            if result is None:  # the route went away meanwhile: say why, as the full path would
                await run_in_threadpool(p.endpoints.explain_unrouted, name)
                raise AssertionError("explain_unrouted always raises")
        except SlipwayError as exc:
            await _error(send, exc, rid)
            return True
        except Exception:  # as RequestIdMiddleware does on the full path: logged once, answered in our shape
            log.exception("Unhandled error in POST %s (request %s)", scope["path"], rid)
            await _error(send, SlipwayError(f"Internal error; quote request id {rid} when reporting it."), rid)
            return True
        await send({"type": "http.response.start", "status": result.status, "headers": [
            (b"content-type", result.content_type.encode("latin-1")), (b"content-length", str(len(result.body)).encode()),
            (_VARIANT, result.variant.encode()), (_MODEL, result.model.encode()), (b"x-request-id", rid.encode())]})
        await send({"type": "http.response.body", "body": result.body})
        return True

    def _allows(self, principal: Any, name: str) -> bool:
        """``evaluate`` of the principal's policies for invoking ``name``, remembered per principal object."""
        key = (id(principal), name)
        found = self._allowed.get(key)
        if found is not None and found[0] is principal:
            return bool(found[1])
        allowed = evaluate(principal.policies, ACTION, f"endpoint/{name}")
        if len(self._allowed) >= 4096:  # principals come and go (refreshes): a bounded memory
            self._allowed.clear()
        self._allowed[key] = (principal, allowed)
        return allowed


async def _read_body(receive: Receive, declared: int, limit: int) -> bytes | None:
    if declared > limit:
        raise payload_too_large(declared, limit)
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise payload_too_large(size, limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def payload_too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body of {size} bytes is over the limit of {limit} bytes ({limit / 1048576:g} MB, setting "
        "'max_payload_bytes'). Send fewer rows per request.",
        {"field": "body", "value": size, "limit_bytes": limit},
    )


async def _error(send: Send, exc: SlipwayError, rid: str) -> None:
    body = error_body(exc.code, exc.message, exc.details, rid)
    headers = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode()), (b"x-request-id", rid.encode())]
    if "retry_after" in exc.details:
        headers.append((b"retry-after", str(exc.details["retry_after"]).encode()))
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
