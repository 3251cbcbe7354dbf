"""Request helpers shared by routers: the platform, pagination."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Query, Request

from slipway.errors import InvalidArgument
from slipway.services import Platform

__all__ = ["OPEN_PATHS", "Paging", "check_routes_protected", "iter_routes", "paging", "permission", "platform", "principal"]

# Routes that answer without a key: liveness, and the API description (it reveals no data).
OPEN_PATHS = frozenset({"/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
                        # the dashboard's stylesheet and scripts, and its sign-in page
                        "/static", "/ui/login", "/ui/logout"})


def platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


def paging(
    request: Request,
    limit: int | None = Query(default=None, ge=1, le=1000, description="Items per page (1-1000)."),
    page_token: str | None = Query(default=None, description="next_page_token from the previous page."),
) -> Paging:
    offset = 0
    if page_token:
        if not page_token.isdigit():
            raise InvalidArgument(
                f"Field 'page_token' has value {page_token!r}. Expected the next_page_token of a previous page.",
                {"field": "page_token", "value": page_token},
            )
        offset = int(page_token)
    return Paging(limit or platform(request).settings.page_size, offset)


def permission(action: str, resource: str = "*") -> Callable[[Request], None]:
    """Declare the action (``datasets:Create``) and resource (``dataset/{name}``) a route performs.

    ``{param}`` in ``resource`` is filled from the path parameters (``name:3`` -> ``name``), or
    from the fields of a dashboard form (``slipway/web/forms.py`` reads them first).
    The platform's authorizer (access control) checks it; the audit trail records it.
    """

    def _check(request: Request) -> None:
        given = {**getattr(request.state, "form_fields", {}), **request.path_params}
        params = {k: str(v).split(":", 1)[0] for k, v in given.items()}
        try:
            res = resource.format(**params)
        except (KeyError, IndexError):
            res = resource
        request.state.action = action
        request.state.resource = res
        authorize = getattr(platform(request), "authorize_request", None)
        if authorize is not None:
            authorize(request, action, res)

    _check.__name__ = f"permission_{action.replace(':', '_')}"
    return _check


def principal(request: Request) -> Any:
    """The authenticated caller (set by the route's ``permission`` dependency), or None."""
    return getattr(request.state, "principal", None)


def iter_routes(routes: list[Any], prefix: str = "", inherited: tuple[Any, ...] = ()) -> Any:
    """(method set, full path, dependency callables) of every endpoint, through included routers."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:  # FastAPI keeps included routers nested
            ctx = route.include_context
            deps = tuple(d.dependency for d in ctx.dependencies)
            yield from iter_routes(original.routes, prefix + ctx.prefix, inherited + deps)
            continue
        path = getattr(route, "path", None)
        if path is None:
            continue
        dependant = getattr(route, "dependant", None)
        calls = inherited + tuple(d.call for d in dependant.dependencies) if dependant is not None else inherited
        yield set(getattr(route, "methods", None) or ()), prefix + path, calls


def check_routes_protected(routes: list[Any]) -> None:
    """Refuse to build an app where a route outside ``OPEN_PATHS`` lacks a ``permission`` dependency."""
    for methods, path, calls in iter_routes(routes):
        if path in OPEN_PATHS:
            continue
        if not any(getattr(c, "__name__", "").startswith("permission_") for c in calls):
            raise RuntimeError(
                f"Route {sorted(methods)} {path} has no permission dependency. Add "
                "dependencies=[Depends(permission('<resources>:<Verb>', '<type>/{name}'))] (docs/developing.md)."
            )
