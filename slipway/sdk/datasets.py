"""SDK: datasets (push, list, get, pull, delete)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from slipway.errors import InvalidArgument
from slipway.names import check_name, parse_ref
from slipway.schemas import DatasetSummary, DatasetVersionView, Page, PushResult
from slipway.sdk.http import Api, Progress, drop_none, write_body

__all__ = ["Datasets"]


class Datasets:
    def __init__(self, api: Api) -> None:
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
                from slipway.data.folders import pack_folder  # numpy and pandas come with slipway.data: not for a file

                packed = Path(tmp) / "folder.tar"
                with open(packed, "wb") as out:
                    pack_folder(src, out)
                upload = packed
            else:
                upload = src
            with open(upload, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                data = self._api.send_file("POST", f"/api/v1/datasets/{name}/versions", f, size, params=params,
                                           progress=progress)
        return PushResult.model_validate(data)

    def list(self, limit: int | None = None, page_token: str | None = None) -> Page[DatasetSummary]:
        params = drop_none(limit=limit, page_token=page_token)
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
        params = drop_none(limit=limit, page_token=page_token)
        data = self._api.json("GET", f"/api/v1/datasets/{name}/versions", params=params)
        return Page[DatasetVersionView].model_validate(data)

    def get(self, ref: str) -> DatasetVersionView:
        """``name:N``, ``name:latest`` or ``name`` (latest)."""
        parse_ref(ref)
        return DatasetVersionView.model_validate(self._api.json("GET", f"/api/v1/datasets/{ref}"))

    def pull(self, ref: str, dest: str | os.PathLike[str], progress: Progress | None = None) -> Path:
        """Download a version into folder ``dest``; returns the file or folder written."""
        out_dir = Path(dest)
        out_dir.mkdir(parents=True, exist_ok=True)
        with self._api.get_body(f"/api/v1/datasets/{ref}/content") as body:
            filename = Path(unquote(body.getheader("X-Slipway-Filename") or "data")).name or "data"
            kind = body.getheader("X-Slipway-Kind") or "file"
            tmp = out_dir / f".{filename}.part"
            try:
                write_body(body, tmp, progress)
                if kind == "folder":
                    from slipway.data.folders import unpack_folder

                    target = out_dir / filename
                    unpack_folder(tmp, target)
                else:
                    target = out_dir / filename
                    tmp.replace(target)
            finally:
                tmp.unlink(missing_ok=True)
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


