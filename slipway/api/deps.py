"""Request helpers shared by routers: the platform, pagination."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Query, Request

from slipway.errors import InvalidArgument
from slipway.services import Platform

__all__ = ["platform", "Paging", "paging"]


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
