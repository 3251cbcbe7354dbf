"""/api/v1/datasets: push (streamed body), list, show, pull (streamed), delete."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from slipway.api.deps import DeleteRef, Name, Paging, Ref, paging, permission, platform
from slipway.api.errors import error_responses
from slipway.data.formats import FORMATS
from slipway.errors import InvalidArgument
from slipway.schemas import DatasetSummary, DatasetVersionView, Page, PushResult
from slipway.services import Platform
from slipway.storage.pipe import BlockPipe

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])

_BLOCK = 1 << 20  # body bytes are handed to the worker in blocks of about this size …
_PIPE_DEPTH = 8  # … at most this many waiting (bounds the memory of a push)
_PULL_BATCH = 4  # a pull fetches this many blocks (about 1 MB each) from the store per thread hop


def _take(blocks: Iterator[bytes], n: int) -> list[bytes]:
    return list(itertools.islice(blocks, n))


async def _batched(blocks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The store's blocks, read (and decrypted) in a worker thread a few at a time: the thread hops of
    4 MB blocks without joining 1 MB ones into them (a copy of every byte)."""
    try:
        while batch := await run_in_threadpool(_take, blocks, _PULL_BATCH):
            for block in batch:
                yield block
                # a turn of the loop between blocks: the server's coalescing transport sends each block
                # on its own instead of joining the batch into one large write (a copy, and its memory)
                await asyncio.sleep(0)
    finally:
        close = getattr(blocks, "close", None)
        if close is not None:
            close()  # closes the store's stream at once, also when the client went away


async def _settle(worker: asyncio.Future[object]) -> None:
    """Wait for an aborted push's worker to finish removing what it wrote; its error is not the story."""
    try:
        await asyncio.shield(worker)
    except BaseException:  # noqa: S110
        pass


@router.get("", response_model=Page[DatasetSummary], dependencies=[Depends(permission("datasets:List"))])
async def list_datasets(pg: Paging = Depends(paging), p: Platform = Depends(platform)) -> Page[DatasetSummary]:
    return await run_in_threadpool(p.datasets.list, pg.limit, pg.offset)


@router.post(
    "/{name}/versions",
    response_model=PushResult,
    status_code=201,
    dependencies=[Depends(permission("datasets:Create", "dataset/{name}"))],
    responses={200: {"model": PushResult, "description": "The same content exists already: that version."},
               **error_responses(413)},
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}, "required": True}},
)
async def push(
    name: Name,
    request: Request,
    response: Response,
    filename: str = Query("data", description="Original file or folder name."),
    kind: str = Query("file", description="'file', or 'folder' for a deterministic tar of a folder.",
                      json_schema_extra={"enum": ["file", "folder"]}),
    format: str | None = Query(None, description="csv, parquet, jsonl, npy, npz, text-folder, image-folder, files.",
                               json_schema_extra={"enum": list(FORMATS)}),
    label: str | None = Query(None, description="Label column; must exist."),
    description: str = Query("", max_length=2000),
    p: Platform = Depends(platform),
) -> PushResult:
    """Stream the body into a new dataset version (or return the identical existing one).

    The body's blocks go through a bounded pipe to a worker thread that hashes, encrypts, stores and
    inspects them as they arrive (``DatasetService.push_stream``); a full pipe slows the reading of
    the body (back-pressure), so memory stays bounded whatever the size.
    """
    service = p.datasets
    limit = service.max_upload_bytes
    user = getattr(request.state, "user", "") or ""
    pipe = BlockPipe(depth=_PIPE_DEPTH)

    def work() -> PushResult:
        try:
            return service.push_stream(name, pipe, filename=filename, kind=kind, format=format, label=label,
                                       description=description, user=user)
        finally:
            pipe.close()  # a writer waiting on a full pipe stops waiting

    worker = asyncio.ensure_future(run_in_threadpool(work))
    pending: list[bytes] = []
    buffered = size = 0

    async def send(block: bytes | None) -> None:
        if block is not None and pipe.try_send(block):
            return
        await run_in_threadpool(pipe.send, block)

    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            size += len(chunk)
            if limit and size > limit:
                service.check_size(size)
            if worker.done() or pipe.reader_gone:
                continue  # the worker stopped early (a bad file): read the rest, then report its error
            pending.append(chunk)
            buffered += len(chunk)
            if buffered >= _BLOCK:
                block = b"".join(pending)
                pending.clear()
                buffered = 0
                await send(block)
        if pending and not pipe.reader_gone:
            await send(b"".join(pending))
        await send(None)
    except ClientDisconnect:
        pipe.fail("the client went away")
        await _settle(worker)
        raise InvalidArgument("The upload was interrupted before it finished; nothing was stored.") from None
    except BaseException:
        pipe.fail("the upload was refused")
        await _settle(worker)
        raise
    result = await worker
    if not result.created:
        response.status_code = 200
    return result


@router.get("/{name}/versions", response_model=Page[DatasetVersionView],
            dependencies=[Depends(permission("datasets:Get", "dataset/{name}"))])
async def list_versions(
    name: Name, pg: Paging = Depends(paging), p: Platform = Depends(platform)
) -> Page[DatasetVersionView]:
    return await run_in_threadpool(p.datasets.list_versions, name, pg.limit, pg.offset)


@router.get("/{ref}", response_model=DatasetVersionView, dependencies=[Depends(permission("datasets:Get", "dataset/{ref}"))])
async def show(ref: Ref, p: Platform = Depends(platform)) -> DatasetVersionView:
    """A version by ``name:N``; ``name`` or ``name:latest`` gives the newest."""
    return await run_in_threadpool(p.datasets.get, ref)


@router.get("/{ref}/content", response_class=StreamingResponse,
            dependencies=[Depends(permission("datasets:Get", "dataset/{ref}"))],
            responses={200: {"description": "The version's file (or a tar of its folder).", "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in ("application/octet-stream", "application/x-tar")}}})
async def pull(ref: Ref, p: Platform = Depends(platform)) -> StreamingResponse:
    view, chunks = await run_in_threadpool(p.datasets.open_content, ref)
    media = "application/x-tar" if view.kind == "folder" else "application/octet-stream"
    headers = {
        "Content-Length": str(view.size),
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(view.filename)}",
        "X-Slipway-Kind": view.kind,
        "X-Slipway-Filename": quote(view.filename),
        "X-Slipway-Sha256": view.sha256,
        "X-Slipway-Ref": view.ref,
    }
    return StreamingResponse(_batched(chunks), media_type=media, headers=headers)


@router.delete("/{ref}", response_model=DatasetVersionView | dict,
               dependencies=[Depends(permission("datasets:Delete", "dataset/{ref}"))])
async def delete(
    ref: DeleteRef,
    force: bool = Query(False, description="Delete even when jobs or models use it."),
    all_versions: bool = Query(False, description="With a bare name: delete every version."),
    p: Platform = Depends(platform),
) -> DatasetVersionView | dict[str, object]:
    if all_versions and ":" not in ref:
        count = await run_in_threadpool(p.datasets.delete_dataset, ref, force)
        return {"name": ref, "deleted_versions": count}
    return await run_in_threadpool(p.datasets.delete, ref, force)
