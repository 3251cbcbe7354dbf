"""Request helpers shared by routers: the platform, pagination."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Query, Request

from slipway.errors import InvalidArgument
from slipway.names import NAME_SCHEMA, REF_SCHEMA, VERSION_SCHEMA, check_no_control
from slipway.schemas.auth import DURATION_PATTERN
from slipway.services import Platform

__all__ = ["OPEN_PATHS", "SECRETS_USE", "SINCE", "Alias", "DeleteRef", "Name", "Number", "Paging", "Ref", "TuningName",
           "Version", "authorize_secrets", "check_routes_protected", "iter_routes", "paging", "permission",
           "platform", "principal"]

SECRETS_USE = "secrets:Use"

# A time query parameter as the services read it: a duration back from now (15m, 1h, 30d) or an ISO time.
SINCE = {"anyOf": [{"type": "string", "pattern": DURATION_PATTERN}, {"type": "string", "format": "date-time"}]}

# Routes that answer without a key: liveness, and the API description (it reveals no data).
OPEN_PATHS = frozenset({"/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
                        # the dashboard's stylesheet and scripts, and its sign-in page
                        "/static", "/ui/login", "/ui/logout"})


# Path parameters as the OpenAPI document describes them. The schema documents the rule; the services
# enforce it (slipway.names), with messages that say what to type instead.
Name = Annotated[str, Path(description="A name: 1-63 letters, digits, '.', '_' or '-', starting with a letter or "
                                       "digit, no '..'.", json_schema_extra=NAME_SCHEMA)]
# A tuning job's trials are named <name>-NNN, so its own name has four characters less.
TuningName = Annotated[str, Path(description="A name as for other resources, at most 59 characters.",
                                 json_schema_extra={**NAME_SCHEMA, "maxLength": 59})]
Ref = Annotated[str, Path(description="name, name:N or name:latest.", json_schema_extra=REF_SCHEMA)]
DeleteRef = Annotated[str, Path(
    description="name:N, or a bare name with all_versions=true.",
    json_schema_extra={**REF_SCHEMA, "pattern": REF_SCHEMA["pattern"].replace("(:(latest|", "(:(")})]
Alias = Annotated[str, Path(
    description="An alias such as production: a name that is neither 'latest' nor a number.",
    json_schema_extra={**NAME_SCHEMA, "pattern": "^(?!latest$)(?![0-9]+$)" + NAME_SCHEMA["pattern"][1:]})]
Version = Annotated[str, Path(description="A version number, or latest.", json_schema_extra=VERSION_SCHEMA)]
Number = Annotated[str, Path(description="A version number.", json_schema_extra={"pattern": "^[1-9][0-9]{0,17}$"})]


def platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


# A page token is the offset of the next page as we issued it: ASCII digits, at most 15 of them (a bigger
# offset overflows SQLite's integer before any table gets there). isdigit() would let '¹' through to int().
PAGE_TOKEN = re.compile(r"[0-9]{1,15}")


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


def paging(
    request: Request,
    limit: int | None = Query(default=None, ge=1, le=1000, description="Items per page (1-1000)."),
    page_token: str | None = Query(default=None, description="next_page_token from the previous page.",
                                   json_schema_extra={"pattern": f"^{PAGE_TOKEN.pattern}$"}),
) -> Paging:
    offset = 0
    if page_token is not None:
        if not PAGE_TOKEN.fullmatch(page_token):
            raise InvalidArgument(
                f"Field 'page_token' has value {page_token[:80]!r}. Expected the next_page_token of a previous "
                "page (leave it out for the first page).",
                {"field": "page_token", "value": page_token[:80]},
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
        # Before anything reads the path: a control character would otherwise reach the resource string, the
        # policy match (a 403 even for admin) and the audit trail. The service still checks the name itself.
        for key, value in request.path_params.items():
            check_no_control(str(value), key, key)
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


def authorize_secrets(request: Request, names: list[str]) -> None:
    """A job (or tuning job) that takes secrets needs ``secrets:Use`` on each: its code can read the values."""
    for name in dict.fromkeys(names):
        platform(request).authorize_request(request, SECRETS_USE, f"secret/{name}")


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
