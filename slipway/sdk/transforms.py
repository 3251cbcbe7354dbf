"""SDK: batch transform jobs (create, get, list, stop, wait)."""

from __future__ import annotations

import time

from slipway.errors import Timeout
from slipway.schemas import Page
from slipway.schemas.transforms import TransformView
from slipway.sdk.http import Api, drop_none

__all__ = ["Transforms"]

FINAL = ("Completed", "Failed", "Stopped")


class Transforms:
    def __init__(self, api: Api) -> None:
        self._api = api

    def create(self, name: str, model: str | None, data: str, output: str, *, endpoint: str | None = None,
               channel: str = "test", split: str | None = None, batch: int = 500, parallel: int = 2,
               max_payload_mb: float = 6.0, join: bool = True, retries: int = 3, wait: bool = False,
               timeout: float = 3600.0) -> TransformView:
        """Predictions of ``model`` (cancer:1; or, with ``model=None, endpoint="cancer-ep"``, of an endpoint's
        replicas) over dataset version ``data`` (cancer-test:1, or a folder of files) as a new version of
        ``output``; ``split`` line or none (default: line for CSV/JSON lines, none for a folder);
        ``wait`` polls until Completed, Failed or Stopped."""
        body = drop_none(model=model, endpoint=endpoint, data=data, channel=channel, output=output, split=split,
                         batch=batch, parallel=parallel, max_payload_mb=max_payload_mb, join=join, retries=retries)
        view = TransformView.model_validate(self._api.json("POST", f"/api/v1/transforms/{name}", json=body))
        return self.wait(name, timeout) if wait else view

    def get(self, name: str) -> TransformView:
        return TransformView.model_validate(self._api.json("GET", f"/api/v1/transforms/{name}"))

    def list(self, limit: int | None = None, page_token: str | None = None) -> Page[TransformView]:
        data = self._api.json("GET", "/api/v1/transforms", params=drop_none(limit=limit, page_token=page_token))
        return Page[TransformView].model_validate(data)

    def stop(self, name: str) -> TransformView:
        return TransformView.model_validate(self._api.json("POST", f"/api/v1/transforms/{name}/stop"))

    def wait(self, name: str, timeout: float = 3600.0) -> TransformView:
        deadline = time.monotonic() + timeout
        while True:
            view = self.get(name)
            if view.status in FINAL:
                return view
            if time.monotonic() > deadline:
                raise Timeout(f"Transform job {name!r} is still {view.status} after {timeout:g} s.", {"name": name})
            time.sleep(0.2)
