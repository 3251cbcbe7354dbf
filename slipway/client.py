"""The Python SDK: a typed client over the REST API that raises the server's error classes.

    from slipway import Client
    c = Client()                       # finds the local server (or SLIPWAY_URL)
    v = c.datasets.push("cancer", "cancer.csv", label="target")
"""

from __future__ import annotations

import os

from slipway.schemas import ServerStatus
from slipway.sdk.datasets import Datasets
from slipway.sdk.endpoints import Endpoints
from slipway.sdk.models import Models
from slipway.sdk.http import Api
from slipway.settings import Settings

__all__ = ["Client"]


class Client:
    """Entry point of the SDK. ``url``/``api_key`` default to the local server and its credentials."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
        settings: Settings | None = None,
    ) -> None:
        from slipway.server import read_server_file

        settings = settings or Settings.load(home=home)
        if url is None:
            if os.environ.get("SLIPWAY_URL"):
                url = settings.url
            else:
                info = read_server_file(settings.home)
                url = info["url"] if info and "url" in info else settings.url
        api_key = api_key or os.environ.get("SLIPWAY_API_KEY") or None
        self.settings = settings
        self.url = url
        self._api = Api(url, api_key, timeout, verify=os.environ.get("SLIPWAY_CA_BUNDLE") or True)
        self.datasets = Datasets(self._api)
        self.models = Models(self._api)
        self.endpoints = Endpoints(self._api)

    def status(self) -> ServerStatus:
        return ServerStatus.model_validate(self._api.json("GET", "/api/v1/status"))

    def close(self) -> None:
        self._api.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
