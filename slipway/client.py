"""The Python SDK: a typed client over the REST API that raises the server's error classes.

    from slipway import Client
    c = Client()                       # finds the local server (or SLIPWAY_URL)
    v = c.datasets.push("cancer", "cancer.csv", label="target")
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote

import httpx

from slipway.errors import (
    InvalidArgument,
    ServerNotRunning,
    SlipwayError,
    error_class_for_code,
)
from slipway.names import check_name, parse_ref
from slipway.schemas import (
    DatasetSummary,
    DatasetVersionView,
    Page,
    PushResult,
    ServerStatus,
)
from slipway.settings import Settings

__all__ = ["Client", "Datasets"]

Progress = Callable[[int], None]  # called with the number of bytes just sent/received
CHUNK = 1024 * 1024


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    try:
        err = resp.json()["error"]
        cls = error_class_for_code(err.get("code", ""))
        exc = cls(err.get("message", resp.text), err.get("details") or {})
        exc.status_code = resp.status_code
        exc.request_id = err.get("request_id")  # type: ignore[attr-defined]
    except (ValueError, KeyError, TypeError):
        exc = SlipwayError(f"HTTP {resp.status_code} from {resp.request.url}: {resp.text[:500]}")
        exc.status_code = resp.status_code
    raise exc


class _Api:
    """HTTP plumbing shared by the resource clients."""

    def __init__(self, url: str, api_key: str | None, timeout: float, verify: bool | str) -> None:
        self.url = url.rstrip("/")
        headers = {"User-Agent": "slipway-sdk"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, verify=verify)

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kw)
        except httpx.ConnectError:
            raise ServerNotRunning(
                f"No Slipway server answers at {self.url}. Start one with `slipway up` (or `make run`), "
                "or point SLIPWAY_URL at a running server."
            ) from None
        _raise_for(resp)
        return resp

    def json(self, method: str, path: str, **kw: Any) -> Any:
        return self.request(method, path, **kw).json()

    def stream(self, method: str, path: str, **kw: Any) -> Any:
        try:
            ctx = self.http.stream(method, path, **kw)
            resp = ctx.__enter__()
        except httpx.ConnectError:
            raise ServerNotRunning(
                f"No Slipway server answers at {self.url}. Start one with `slipway up` (or `make run`)."
            ) from None
        if resp.status_code >= 400:
            resp.read()
            ctx.__exit__(None, None, None)
            _raise_for(resp)
        return ctx, resp


def _file_chunks(f: BinaryIO, progress: Progress | None) -> Iterator[bytes]:
    while True:
        block = f.read(CHUNK)
        if not block:
            return
        if progress:
            progress(len(block))
        yield block


class Datasets:
    def __init__(self, api: _Api) -> None:
        self._api = api

    def push(
        self,
        name: str,
        path: str | os.PathLike[str],
        label: str | None = None,
        format: str | None = None,
        description: str = "",
        progress: Progress | None = None,
    ) -> PushResult:
        """Upload a file or a folder (one subfolder per class) as a new version of ``name``."""
        from slipway.data import pack_folder

        check_name(name)
        src = Path(path)
        if not src.exists():
            raise InvalidArgument(
                f"Path {str(src)!r} does not exist. Expected a file or a folder to push.",
                {"field": "path", "value": str(src)},
            )
        params: dict[str, Any] = {"filename": src.name, "kind": "folder" if src.is_dir() else "file"}
        if label:
            params["label"] = label
        if format:
            params["format"] = format
        if description:
            params["description"] = description
        with tempfile.TemporaryDirectory(prefix="slipway-push-") as tmp:
            if src.is_dir():
                packed = Path(tmp) / "folder.tar"
                with open(packed, "wb") as out:
                    pack_folder(src, out)
                upload = packed
            else:
                upload = src
            with open(upload, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                data = self._api.json(
                    "POST",
                    f"/api/v1/datasets/{name}/versions",
                    params=params,
                    content=_file_chunks(f, progress),
                    headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                )
        return PushResult.model_validate(data)

    def list(self, limit: int | None = None, page_token: str | None = None) -> Page[DatasetSummary]:
        params = {k: v for k, v in {"limit": limit, "page_token": page_token}.items() if v is not None}
        return Page[DatasetSummary].model_validate(self._api.json("GET", "/api/v1/datasets", params=params))

    def iter(self) -> Iterator[DatasetSummary]:
        token: str | None = None
        while True:
            page = self.list(page_token=token)
            yield from page.items
            token = page.next_page_token
            if token is None:
                return

    def versions(self, name: str, limit: int | None = None, page_token: str | None = None) -> Page[DatasetVersionView]:
        params = {k: v for k, v in {"limit": limit, "page_token": page_token}.items() if v is not None}
        data = self._api.json("GET", f"/api/v1/datasets/{name}/versions", params=params)
        return Page[DatasetVersionView].model_validate(data)

    def get(self, ref: str) -> DatasetVersionView:
        """``name:N``, ``name:latest`` or ``name`` (latest)."""
        parse_ref(ref)
        return DatasetVersionView.model_validate(self._api.json("GET", f"/api/v1/datasets/{ref}"))

    def pull(self, ref: str, dest: str | os.PathLike[str], progress: Progress | None = None) -> Path:
        """Download a version into folder ``dest``; returns the file or folder written."""
        from slipway.data import unpack_folder

        out_dir = Path(dest)
        out_dir.mkdir(parents=True, exist_ok=True)
        ctx, resp = self._api.stream("GET", f"/api/v1/datasets/{ref}/content")
        try:
            filename = Path(unquote(resp.headers.get("X-Slipway-Filename", "data"))).name or "data"
            kind = resp.headers.get("X-Slipway-Kind", "file")
            tmp = out_dir / f".{filename}.part"
            try:
                with open(tmp, "wb") as f:
                    for block in resp.iter_bytes(CHUNK):
                        f.write(block)
                        if progress:
                            progress(len(block))
                if kind == "folder":
                    target = out_dir / filename
                    unpack_folder(tmp, target)
                else:
                    target = out_dir / filename
                    tmp.replace(target)
            finally:
                tmp.unlink(missing_ok=True)
        finally:
            ctx.__exit__(None, None, None)
        return target

    def delete(self, ref: str, force: bool = False) -> DatasetVersionView:
        return DatasetVersionView.model_validate(
            self._api.json("DELETE", f"/api/v1/datasets/{ref}", params={"force": str(force).lower()})
        )

    def delete_all(self, name: str, force: bool = False) -> int:
        data = self._api.json(
            "DELETE", f"/api/v1/datasets/{name}", params={"force": str(force).lower(), "all_versions": "true"}
        )
        return int(data["deleted_versions"])


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
        self._api = _Api(url, api_key, timeout, verify=os.environ.get("SLIPWAY_CA_BUNDLE") or True)
        self.datasets = Datasets(self._api)

    def status(self) -> ServerStatus:
        return ServerStatus.model_validate(self._api.json("GET", "/api/v1/status"))

    def close(self) -> None:
        self._api.http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
