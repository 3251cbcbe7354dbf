"""SDK: the audit trail (list, iterate) and the counts of counted calls."""

from __future__ import annotations

from collections.abc import Iterator

from slipway.schemas.auth import AuditCountView, AuditEventView, Page
from slipway.sdk.http import Api, drop_none

__all__ = ["Audit"]


class Audit:
    def __init__(self, api: Api) -> None:
        self._api = api

    def list(self, since: str | None = None, user: str | None = None, action: str | None = None,
             outcome: str | None = None, limit: int | None = None, page_token: str | None = None
             ) -> Page[AuditEventView]:
        """Newest first; ``since`` is a duration (1h) or an ISO time; ``action`` may use ``*``."""
        params = drop_none(since=since, user=user, action=action, outcome=outcome, limit=limit, page_token=page_token)
        return Page[AuditEventView].model_validate(self._api.json("GET", "/api/v1/audit", params=params))

    def iter(self, **filters: str | None) -> Iterator[AuditEventView]:
        token: str | None = None
        while True:
            page = self.list(page_token=token, **filters)  # type: ignore[arg-type]
            yield from page.items
            if (token := page.next_page_token) is None:
                return

    def counts(self, since: str | None = None) -> list[AuditCountView]:
        data = self._api.json("GET", "/api/v1/audit/counts", params=drop_none(since=since))
        return [AuditCountView.model_validate(c) for c in data]
