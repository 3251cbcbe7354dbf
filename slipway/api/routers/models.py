"""/api/v1/models: register (upload), list, show, approve/reject, aliases, history, export, delete."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from slipway.api.deps import Alias, Name, Number, Paging, Version, paging, permission, platform
from slipway.api.errors import binary_response
from slipway.errors import InvalidArgument
from slipway.schemas import AliasRequest, ApprovalRequest, ModelEventView, ModelSummary, ModelVersionView, Page
from slipway.services import Platform
from slipway.services.registry import SINGLE_FILE_FRAMEWORKS

router = APIRouter(prefix="/api/v1/models", tags=["models"])


def _user(request: Request) -> str:
    return getattr(request.state, "user", "") or ""


def _ref(name: str, version: str) -> str:
    return f"{name}:{version}"


@router.get("", response_model=Page[ModelSummary], dependencies=[Depends(permission("models:List"))])
async def list_models(pg: Paging = Depends(paging), p: Platform = Depends(platform)) -> Page[ModelSummary]:
    return await run_in_threadpool(p.registry.list, pg.limit, pg.offset)


@router.post(
    "/{name}/versions", response_model=ModelVersionView, status_code=201,
    dependencies=[Depends(permission("models:Register", "model/{name}"))],
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}, "required": True}},
)
async def register(
    name: Name,
    request: Request,
    filename: str = Query("model.tar.gz", description="Original file name: model.tar.gz, a .joblib/.pkl estimator, a .keras file or a TorchScript .pt."),
    framework: str | None = Query(None, description="Framework of a single-file model: sklearn, keras or pytorch.",
                                  json_schema_extra={"enum": list(SINGLE_FILE_FRAMEWORKS)}),
    description: str = Query("", max_length=2000),
    onnx: bool = Query(True, description="Export a verified ONNX copy for the fast serving path."),
    p: Platform = Depends(platform),
) -> ModelVersionView:
    """Import a model: a model.tar.gz (contract or SageMaker-style) or a scikit-learn .joblib/.pkl file."""
    suffix = "".join(Path(Path(filename).name).suffixes[-2:]) or ".tar.gz"
    fd, tmp_name = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=p.tmp_dir)
    tmp = Path(tmp_name)
    try:
        try:
            with open(fd, "wb") as out:
                async for chunk in request.stream():
                    out.write(chunk)
        except ClientDisconnect:
            raise InvalidArgument("The upload was interrupted before it finished; nothing was stored.") from None
        source = {"kind": "import", "filename": Path(filename).name}
        return await run_in_threadpool(
            lambda: p.registry.register(name, tmp, source, _user(request), description=description, framework=framework,
                                        onnx=onnx)
        )
    finally:
        tmp.unlink(missing_ok=True)


class RegisterFromRequest(BaseModel):
    source: str = Field(..., description="A Completed training job, or a tuning job (its best trial is registered).")
    description: str = Field("", max_length=2000)


@router.post("/{name}/versions/from-job", response_model=ModelVersionView, status_code=201,
             dependencies=[Depends(permission("models:Register", "model/{name}"))])
async def register_from(name: Name, body: RegisterFromRequest, request: Request,
                        p: Platform = Depends(platform)) -> ModelVersionView:
    """Register the model of a finished job (or of a tuning job's best trial) as a new version."""
    return await run_in_threadpool(p.promotion.register, body.source, name, _user(request), body.description)


@router.get("/{name}/versions", response_model=Page[ModelVersionView],
            dependencies=[Depends(permission("models:Get", "model/{name}"))])
async def list_versions(name: Name, pg: Paging = Depends(paging), p: Platform = Depends(platform)
                        ) -> Page[ModelVersionView]:
    return await run_in_threadpool(p.registry.list_versions, name, pg.limit, pg.offset)


@router.get("/{name}/versions/{version}", response_model=ModelVersionView,
            dependencies=[Depends(permission("models:Get", "model/{name}"))])
async def show_version(name: Name, version: Version, p: Platform = Depends(platform)) -> ModelVersionView:
    """A version by number or ``latest``."""
    return await run_in_threadpool(p.registry.get, _ref(name, version))


@router.get("/{name}/aliases/{alias}", response_model=ModelVersionView,
            dependencies=[Depends(permission("models:Get", "model/{name}"))])
async def show_alias(name: Name, alias: Alias, p: Platform = Depends(platform)) -> ModelVersionView:
    """The version an alias points at (``name@alias``)."""
    return await run_in_threadpool(p.registry.get, f"{name}@{alias}")


@router.put("/{name}/aliases/{alias}", response_model=ModelVersionView,
            dependencies=[Depends(permission("models:SetAlias", "model/{name}"))])
async def set_alias(name: Name, alias: Alias, body: AliasRequest, request: Request, p: Platform = Depends(platform)
                    ) -> ModelVersionView:
    return await run_in_threadpool(p.registry.set_alias, name, alias, body.version, _user(request))


@router.delete("/{name}/aliases/{alias}", status_code=204,
               dependencies=[Depends(permission("models:SetAlias", "model/{name}"))])
async def remove_alias(name: Name, alias: Alias, request: Request, p: Platform = Depends(platform)) -> Response:
    await run_in_threadpool(p.registry.remove_alias, name, alias, _user(request))
    return Response(status_code=204)


@router.get("/{name}/history", response_model=list[ModelEventView],
            dependencies=[Depends(permission("models:Get", "model/{name}"))])
async def history(name: Name, alias: str | None = Query(None, description="Only the moves of this alias."),
                  p: Platform = Depends(platform)) -> list[ModelEventView]:
    """Registrations, approval changes and every alias move (who, when, from, to), oldest first."""
    return await run_in_threadpool(p.registry.history, name, alias)


@router.put("/{name}/versions/{version}/approval", response_model=ModelVersionView,
            dependencies=[Depends(permission("models:Approve", "model/{name}"))])
async def set_approval(name: Name, version: Version, body: ApprovalRequest, request: Request,
                       p: Platform = Depends(platform)) -> ModelVersionView:
    return await run_in_threadpool(p.registry.set_approval, _ref(name, version), body.status, body.reason,
                                   _user(request))


@router.get("/{name}/versions/{version}/artifact", response_class=StreamingResponse,
            responses=binary_response("application/gzip", "The version's model.tar.gz."),
            dependencies=[Depends(permission("models:Export", "model/{name}"))])
async def export(name: Name, version: Version, p: Platform = Depends(platform)) -> StreamingResponse:
    """The version's model.tar.gz, byte for byte as stored (import it again to restore it)."""
    view, chunks = await run_in_threadpool(p.registry.open_artifact, _ref(name, version))
    headers = {"Content-Length": str(view.size), "X-Slipway-Sha256": view.sha256, "X-Slipway-Ref": view.ref,
               "Content-Disposition": f'attachment; filename="{view.name}-{view.version}.tar.gz"'}
    return StreamingResponse(chunks, media_type="application/gzip", headers=headers)


@router.delete("/{name}/versions/{version}", response_model=ModelVersionView,
               dependencies=[Depends(permission("models:Delete", "model/{name}"))])
async def delete_version(name: Name, version: Number, request: Request,
                         force: bool = Query(False, description="Delete even when an alias points at it."),
                         p: Platform = Depends(platform)) -> ModelVersionView:
    return await run_in_threadpool(p.registry.delete_version, _ref(name, version), force, _user(request))
