"""Request helpers shared by routers: the platform, pagination."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Query, Request

from slipway.errors import InvalidArgument
from slipway.services import Platform

__all__ = ["Paging", "paging", "platform"]


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

    ``{param}`` in ``resource`` is filled from the path parameters (``name:3`` -> ``name``).
    The platform's authorizer (access control) checks it; the audit trail records it.
    """

    def _check(request: Request) -> None:
        params = {k: str(v).split(":", 1)[0] for k, v in request.path_params.items()}
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
