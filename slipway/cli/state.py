"""Global CLI options and the lazily built SDK client."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # the SDK (httpx, pydantic) is imported when a command first talks to a server
    from slipway.client import Client

__all__ = ["CliState", "client"]


@dataclass
class CliState:
    url: str | None = None
    home: str | None = None
    api_key: str | None = None
    debug: bool = False
    url_name: str = "--url"  # where url came from, for its error message: --url or SLIPWAY_URL
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        if self._client is None:
            # pydantic reads the entry points of every installed distribution for its plugins when it builds
            # the first model (tens of ms with the `all` extras); a command's client has no use for them.
            os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
            from slipway.client import Client
            from slipway.sdk.http import check_url

            if self.url is not None:
                check_url(self.url, self.url_name)
            self._client = Client(url=self.url, api_key=self.api_key, home=self.home)
        return self._client


def client(ctx: typer.Context) -> Client:
    state: CliState = ctx.find_root().obj
    return state.client()
