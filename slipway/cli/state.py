"""Global CLI options and the lazily built SDK client."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from slipway.client import Client

__all__ = ["CliState", "client"]


@dataclass
class CliState:
    url: str | None = None
    home: str | None = None
    api_key: str | None = None
    debug: bool = False
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        if self._client is None:
            self._client = Client(url=self.url, api_key=self.api_key, home=self.home)
        return self._client


def client(ctx: typer.Context) -> Client:
    state: CliState = ctx.find_root().obj
    return state.client()
