"""SDK: users (create, list, get, update, disable, enable)."""

from __future__ import annotations

from collections.abc import Iterator

from slipway.schemas.auth import Page, UserView
from slipway.sdk.http import Api, drop_none

__all__ = ["Users"]


class Users:
    def __init__(self, api: Api) -> None:
        self._api = api

    def create(self, name: str, role: str) -> UserView:
        return UserView.model_validate(self._api.json("POST", "/api/v1/users", json={"name": name, "role": role}))

    def list(self, limit: int | None = None, page_token: str | None = None) -> Page[UserView]:
        params = drop_none(limit=limit, page_token=page_token)
        return Page[UserView].model_validate(self._api.json("GET", "/api/v1/users", params=params))

    def iter(self) -> Iterator[UserView]:
        token: str | None = None
        while True:
            page = self.list(page_token=token)
            yield from page.items
            if (token := page.next_page_token) is None:
                return

    def get(self, name: str) -> UserView:
        return UserView.model_validate(self._api.json("GET", f"/api/v1/users/{name}"))

    def update(self, name: str, role: str | None = None, disabled: bool | None = None) -> UserView:
        body = drop_none(role=role, disabled=disabled)
        return UserView.model_validate(self._api.json("PATCH", f"/api/v1/users/{name}", json=body))

    def disable(self, name: str) -> UserView:
        return self.update(name, disabled=True)

    def enable(self, name: str) -> UserView:
        return self.update(name, disabled=False)
