"""SDK: API keys (create, list, revoke) and the master key rotation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from slipway.schemas.auth import (
    SIGNIN_DESCRIPTION,
    SIGNIN_LIFETIME,
    SIGNIN_POLICY,
    KeyCreated,
    KeyView,
    Page,
    RotateResult,
    signin_url,
)
from slipway.sdk.http import Api, drop_none

__all__ = ["Keys"]


class Keys:
    def __init__(self, api: Api) -> None:
        self._api = api

    def create(self, user: str | None = None, expires: str | None = None, policy: dict[str, Any] | None = None,
               description: str = "", aws: bool = False) -> KeyCreated:
        """A new key for ``user`` (default: yourself); ``.key`` holds the secret, shown only now. ``aws=True``:
        an AWS access key for boto3 / the SageMaker SDK (``.key_id`` is the access key id, ``.key`` the secret)."""
        body = drop_none(user=user, expires=expires, policy=policy, description=description, aws=aws or None)
        return KeyCreated.model_validate(self._api.json("POST", "/api/v1/keys", json=body))

    def signin_link(self, user: str | None = None) -> tuple[str, KeyCreated]:
        """(a one-time dashboard sign-in link for ``user``, its key): valid minutes, usable once, and good for
        nothing but signing in."""
        k = self.create(user=user, expires=SIGNIN_LIFETIME, policy=SIGNIN_POLICY, description=SIGNIN_DESCRIPTION)
        return signin_url(self._api.url, k.key), k

    def list(self, user: str | None = None, limit: int | None = None, page_token: str | None = None) -> Page[KeyView]:
        params = drop_none(user=user, limit=limit, page_token=page_token)
        return Page[KeyView].model_validate(self._api.json("GET", "/api/v1/keys", params=params))

    def iter(self, user: str | None = None) -> Iterator[KeyView]:
        token: str | None = None
        while True:
            page = self.list(user=user, page_token=token)
            yield from page.items
            if (token := page.next_page_token) is None:
                return

    def revoke(self, key_id: str) -> KeyView:
        return KeyView.model_validate(self._api.json("DELETE", f"/api/v1/keys/{key_id}"))

    def rotate_master(self) -> RotateResult:
        return RotateResult.model_validate(self._api.json("POST", "/api/v1/keys/rotate-master"))
