"""Dashboard forms: CSRF protection, reading a urlencoded body, and the one-line notice after an action.

The dashboard keeps the API key in an HttpOnly, SameSite=Strict cookie. A form POST is accepted
with that cookie only when it carries the page's CSRF token (an HMAC of the cookie's key, which a
cross-site page can neither read nor compute) and, when the browser sends one, an ``Origin`` of this
server. Calls with an ``Authorization`` header need neither: another site cannot set that header.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from fastapi import Request
from fastapi.responses import RedirectResponse

from slipway.errors import Forbidden, InvalidArgument

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "FLASH_COOKIE", "csrf_for", "csrf_token", "flashed", "form_guard",
           "read_form", "redirect_with"]

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-slipway-csrf"
FLASH_COOKIE = "slipway_flash"
MAX_FORM_BYTES = 64 * 1024


def csrf_token(key: str) -> str:
    """The token a form signed in with ``key`` must carry."""
    return hmac.new(key.encode(), b"slipway dashboard form", hashlib.sha256).hexdigest()


def csrf_for(request: Request) -> str:
    """The token for the pages this request renders ("" when it did not sign in with the cookie)."""
    from slipway.services.context import DASHBOARD_COOKIE

    key = request.cookies.get(DASHBOARD_COOKIE)
    return csrf_token(key) if key else ""


async def read_form(request: Request) -> dict[str, list[str]]:
    """The urlencoded body (cached on the request, so the guard and the route both read it)."""
    cached = getattr(request.state, "form", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidArgument(f"The form has {len(body)} bytes. Expected at most {MAX_FORM_BYTES}.")
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    request.state.form = form
    return form


def _same_origin(request: Request, origin: str) -> bool:
    host = request.headers.get("host", "")
    return origin in (f"{request.url.scheme}://{host}", f"http://{host}", f"https://{host}")


def form_guard(action: str, resource: str) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A dependency placed before ``permission(action, resource)`` on every dashboard POST.

    With the cookie and no Authorization header, it checks the origin and the CSRF token, then
    lets ``Platform.authorize_request`` accept the cookie for this one request.
    """

    async def _guard(request: Request) -> None:
        from slipway.services.context import DASHBOARD_COOKIE

        form = await read_form(request)
        # A resource named by a field (the endpoint a model is deployed to) is checked like a path's.
        request.state.form_fields = {k: v[0] for k, v in form.items() if v and k != CSRF_FIELD}
        if request.headers.get("authorization"):
            return
        key = request.cookies.get(DASHBOARD_COOKIE)
        if not key:
            return  # the permission check answers 401, and the browser goes to the sign-in page
        origin = request.headers.get("origin")
        sent = request.headers.get(CSRF_HEADER) or (form.get(CSRF_FIELD) or [""])[0]
        problem = ""
        if origin and origin != "null" and not _same_origin(request, origin):
            problem = f"Origin {origin!r} is not this server"
        elif origin == "null":
            problem = "Origin 'null' (a sandboxed or cross-site page) is not this server"
        elif not hmac.compare_digest(sent.encode(), csrf_token(key).encode()):
            problem = "The form's CSRF token is missing or stale"
        if problem:
            # Recorded as a denied call, like any refused change.
            request.state.action, request.state.resource = action, _fill(resource, request)
            raise Forbidden(f"{problem}: the dashboard refuses a change that does not come from its own pages. "
                            "Reload the page and submit the form again.",
                            {"action": action, "reason": "csrf"})
        request.state.dashboard_form = True

    _guard.__name__ = f"form_guard_{action.replace(':', '_')}"
    return _guard


def _fill(resource: str, request: Request) -> str:
    params = {k: str(v).split(":", 1)[0] for k, v in request.path_params.items()}
    try:
        return resource.format(**params)
    except (KeyError, IndexError):
        return resource


def redirect_with(target: str, notice: str) -> RedirectResponse:
    """303 to ``target`` with a one-line notice shown once by the next page."""
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(FLASH_COOKIE, quote(notice[:300]), httponly=True, samesite="strict", max_age=60, path="/")
    return resp


def flashed(request: Request) -> str:
    return unquote(request.cookies.get(FLASH_COOKIE, ""))
