"""SDK: plain views of what the server answers, read by attribute, without building pydantic models.

    for job in c.plain.jobs(status="Completed"):
        print(job.name, job.final_metrics, job.created_at)   # created_at as the server sent it: an ISO 8601 str

For code that only shows the server's answer: the CLI's list and status commands, where importing pydantic
and building a resource's models was most of the command's start-up (see "CLI start-up" in docs/developing.md).
Each record holds the JSON object the server sent, which is the typed view dumped as JSON
(``JobView.model_dump(mode="json", by_alias=True)``): the same fields and values, times as ISO 8601 strings.
Programs should use the typed methods (``c.jobs.iter()``…), which check the shapes and parse the times.
The GETs go over the standard library's http.client (``slipway.sdk.plainget``), with the client's URL, key,
timeout, certificate checks and errors: httpx is not imported.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from slipway.sdk.http import Api, drop_none
from slipway.sdk.plainget import PlainGet

__all__ = ["Plain", "Record"]


class Record(Mapping[str, Any]):
    """A JSON object: ``r.name`` or ``r["name"]``; nested objects are records, lists are lists. A field named like
    a Mapping method (``items``, ``keys``, ``values``, ``get``) is read with ``r["items"]``."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return _wrap(self._data[key])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return _wrap(self._data[name])
        except KeyError:
            raise AttributeError(f"the server's answer has no field {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Record({self._data!r})"


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return Record(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class Plain:
    """``Client.plain``: the list and status reads of the CLI as records (see the module's note)."""

    def __init__(self, api: Api) -> None:
        self._api = PlainGet(api)

    def _pages(self, path: str, **params: Any) -> Iterator[Record]:
        """Every item of a paged list route, following ``next_page_token``."""
        token: str | None = None
        while True:
            page = self._api.json(path, drop_none(**params, page_token=token))
            yield from (Record(item) for item in page["items"])
            token = page.get("next_page_token")
            if token is None:
                return

    def close(self) -> None:
        self._api.close()

    def status(self) -> Record:
        """As ``Client.status()``."""
        return Record(self._api.json("/api/v1/status"))

    def datasets(self) -> Iterator[Record]:
        """As ``c.datasets.iter()``: each dataset with its latest version."""
        return self._pages("/api/v1/datasets")

    def jobs(self, status: str | None = None) -> Iterator[Record]:
        """As ``c.jobs.iter(status)``: training jobs, newest first."""
        return self._pages("/api/v1/jobs", status=status)

    def models(self, limit: int | None = None) -> list[Record]:
        """As ``c.models.list(limit).items``: one page of models with their latest version and aliases."""
        page = self._api.json("/api/v1/models", drop_none(limit=limit))
        return [Record(item) for item in page["items"]]

    def endpoints(self, limit: int | None = None) -> list[Record]:
        """As ``c.endpoints.list(limit).items``: one page of endpoints."""
        page = self._api.json("/api/v1/endpoints", drop_none(limit=limit))
        return [Record(item) for item in page["items"]]
