"""SDK: the model registry (import, list, get, approve, aliases, history, export, delete)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from slipway.errors import InvalidArgument
from slipway.names import check_name
from slipway.schemas import ModelEventView, ModelSummary, ModelVersionView, Page
from slipway.sdk.http import Api, drop_none, file_chunks

__all__ = ["Models"]


def _path_of(ref: str) -> str:
    """``name:N`` / ``name:latest`` / ``name`` / ``name@alias`` -> the REST path of that version."""
    from slipway.services.registry import parse_model_ref

    name, number, alias = parse_model_ref(ref)
    if alias is not None:
        return f"/api/v1/models/{name}/aliases/{alias}"
    return f"/api/v1/models/{name}/versions/{number if number is not None else 'latest'}"


class Models:
    def __init__(self, api: Api) -> None:
        self._api = api

    def import_(self, path: str | os.PathLike[str], name: str, framework: str | None = None,
                description: str = "", onnx: bool = True) -> ModelVersionView:
        """Register a model.tar.gz, a model folder, or a scikit-learn .joblib/.pkl file as a new version.

        ``onnx=False`` keeps the model off the ONNX fast path (it serves with its own framework).
        """
        from slipway.artifacts import pack_artifact

        check_name(name, "model")
        src = Path(path)
        if not src.exists():
            raise InvalidArgument(f"Path {str(src)!r} does not exist. Expected a model.tar.gz, a model folder or "
                                  "a .joblib file.", {"field": "path", "value": str(src)})
        with tempfile.TemporaryDirectory(prefix="slipway-model-") as tmp:
            upload, filename = src, src.name
            if src.is_dir():
                upload, filename = Path(tmp) / "model.tar.gz", "model.tar.gz"
                pack_artifact(src, upload)
            params = drop_none(filename=filename, framework=framework, description=description or None,
                                 onnx=None if onnx else "false")
            with open(upload, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                data = self._api.json("POST", f"/api/v1/models/{name}/versions", params=params, content=file_chunks(f, None),
                                      headers={"Content-Type": "application/octet-stream",
                                               "Content-Length": str(size)})
        return ModelVersionView.model_validate(data)

    def register(self, source: str, name: str, description: str = "") -> ModelVersionView:
        """Register a Completed job's model (or a tuning job's best trial) as a new version of ``name``."""
        data = self._api.json("POST", f"/api/v1/models/{name}/versions/from-job",
                              json={"source": source, "description": description})
        return ModelVersionView.model_validate(data)

    def list(self, limit: int | None = None, page_token: str | None = None) -> Page[ModelSummary]:
        data = self._api.json("GET", "/api/v1/models", params=drop_none(limit=limit, page_token=page_token))
        return Page[ModelSummary].model_validate(data)

    def versions(self, name: str, limit: int | None = None, page_token: str | None = None) -> Page[ModelVersionView]:
        data = self._api.json("GET", f"/api/v1/models/{name}/versions",
                              params=drop_none(limit=limit, page_token=page_token))
        return Page[ModelVersionView].model_validate(data)

    def get(self, ref: str) -> ModelVersionView:
        """``name:N``, ``name:latest``, ``name`` or ``name@alias``."""
        return ModelVersionView.model_validate(self._api.json("GET", _path_of(ref)))

    def _approval(self, ref: str, status: str, reason: str) -> ModelVersionView:
        v = self.get(ref)
        data = self._api.json("PUT", f"/api/v1/models/{v.name}/versions/{v.version}/approval",
                              json={"status": status, "reason": reason})
        return ModelVersionView.model_validate(data)

    def approve(self, ref: str, reason: str = "") -> ModelVersionView:
        return self._approval(ref, "Approved", reason)

    def reject(self, ref: str, reason: str = "") -> ModelVersionView:
        return self._approval(ref, "Rejected", reason)

    def alias(self, name: str, alias: str, version: int) -> ModelVersionView:
        data = self._api.json("PUT", f"/api/v1/models/{name}/aliases/{alias}", json={"version": version})
        return ModelVersionView.model_validate(data)

    def remove_alias(self, name: str, alias: str) -> None:
        self._api.request("DELETE", f"/api/v1/models/{name}/aliases/{alias}")

    def history(self, name: str, alias: str | None = None) -> list[ModelEventView]:
        data: list[dict[str, Any]] = self._api.json("GET", f"/api/v1/models/{name}/history",
                                                    params=drop_none(alias=alias))
        return [ModelEventView.model_validate(e) for e in data]

    def export(self, ref: str, dest: str | os.PathLike[str]) -> Path:
        """Write the version's model.tar.gz to ``dest`` (a file path), exactly as stored."""
        v = self.get(ref)
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        return self._api.download(f"/api/v1/models/{v.name}/versions/{v.version}/artifact", target)

    def delete(self, ref: str, force: bool = False) -> ModelVersionView:
        v = self.get(ref)
        data = self._api.json("DELETE", f"/api/v1/models/{v.name}/versions/{v.version}",
                              params={"force": str(force).lower()})
        return ModelVersionView.model_validate(data)
