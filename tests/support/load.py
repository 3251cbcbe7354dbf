"""A steady stream of invocations from a few threads, every outcome recorded (for zero-failure assertions)."""

from __future__ import annotations

import threading

import httpx
import orjson

from tests.support.models import first_rows

__all__ = ["Load"]


class Load:
    """A steady stream of requests from a few threads, recording every outcome."""

    def __init__(self, url: str, api_key: str, threads: int = 3) -> None:
        self.url = url
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self.models: set[str] = set()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        body = orjson.dumps({"instances": first_rows(1)})
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                try:
                    r = http.post(self.url, content=body, headers=self.headers)
                    self.statuses.append(r.status_code)
                    if r.status_code != 200:
                        self.errors.append(r.text[:300])
                    self.models.add(r.headers.get("x-slipway-model", ""))
                except httpx.HTTPError as exc:  # recorded and asserted on
                    self.errors.append(repr(exc))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()
