"""SDK: roles (list, get, create, delete)."""

from __future__ import annotations

from typing import Any

from slipway.schemas.auth import RoleView
from slipway.sdk.http import Api

__all__ = ["Roles"]


class Roles:
    def __init__(self, api: Api) -> None:
        self._api = api

    def list(self) -> list[RoleView]:
        return [RoleView.model_validate(r) for r in self._api.json("GET", "/api/v1/roles")]

    def get(self, name: str) -> RoleView:
        return RoleView.model_validate(self._api.json("GET", f"/api/v1/roles/{name}"))

    def create(self, name: str, policy: dict[str, Any], description: str = "") -> RoleView:
        body = {"name": name, "policy": policy, "description": description}
        return RoleView.model_validate(self._api.json("POST", "/api/v1/roles", json=body))

    def delete(self, name: str) -> RoleView:
        return RoleView.model_validate(self._api.json("DELETE", f"/api/v1/roles/{name}"))
