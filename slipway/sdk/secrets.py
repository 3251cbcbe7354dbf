"""SDK: secrets (set, list names, delete). Values go in and never come back out."""

from __future__ import annotations

from slipway.schemas.auth import SecretView
from slipway.sdk.http import Api

__all__ = ["Secrets"]


class Secrets:
    def __init__(self, api: Api) -> None:
        self._api = api

    def set(self, name: str, value: str) -> SecretView:
        return SecretView.model_validate(self._api.json("PUT", f"/api/v1/secrets/{name}", json={"value": value}))

    def list(self) -> list[SecretView]:
        return [SecretView.model_validate(s) for s in self._api.json("GET", "/api/v1/secrets")]

    def delete(self, name: str) -> SecretView:
        return SecretView.model_validate(self._api.json("DELETE", f"/api/v1/secrets/{name}"))
