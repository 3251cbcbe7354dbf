"""/endpoints/{name}/async-invocations: queue a request for later, read its status and result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from slipway.api.deps import Name, permission, platform
from slipway.api.errors import error_responses
from slipway.api.invoke import payload_too_large
from slipway.schemas.async_invocations import CALLBACK_PATTERN, AsyncInvocationView
from slipway.services import Platform
from slipway.services.async_invocations import ID_PATTERN

router = APIRouter(tags=["invocations"])

InvocationId = Annotated[str, Path(description="The id returned when the request was queued (32 hex digits).",
                                   json_schema_extra={"pattern": ID_PATTERN})]

# Bodies are not empty: an empty one is a 400 naming 'body'.
BODY = {"requestBody": {"content": {"application/json": {"schema": {"type": "object"}},
                                    "text/csv": {"schema": {"type": "string", "minLength": 1}},
                                    "application/x-npy": {"schema": {"type": "string", "format": "binary",
                                                                     "minLength": 1}}},
                        "required": True}}


@router.post("/endpoints/{name}/async-invocations", response_model=AsyncInvocationView, status_code=202,
             dependencies=[Depends(permission("endpoints:InvokeAsync", "endpoint/{name}"))],
             responses=error_responses(413), openapi_extra=BODY)
async def invoke_async(name: Name, request: Request,
                       callback_url: str | None = Query(
                           None, max_length=2048, description="POSTed a JSON document with the result or the error "
                           "once the request is answered (retried with backoff).",
                           json_schema_extra={"pattern": CALLBACK_PATTERN}),
                       p: Platform = Depends(platform)) -> AsyncInvocationView | Response:
    """Queue a request (any body /invocations takes); 202 with its id. Poll it or wait for the callback."""
    limit = p.settings.max_payload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise payload_too_large(int(declared), limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise payload_too_large(len(body), limit)
    except ClientDisconnect:
        return Response(status_code=499)
    user = getattr(request.state, "user", "") or ""
    return await run_in_threadpool(p.async_invocations.submit, name, bytes(body),
                                   request.headers.get("content-type", "application/json"),
                                   request.headers.get("accept", ""), callback_url, user)


@router.get("/endpoints/{name}/async-invocations/{invocation_id}", response_model=AsyncInvocationView,
            dependencies=[Depends(permission("endpoints:GetAsyncResult", "endpoint/{name}"))])
async def get_async(name: Name, invocation_id: InvocationId, p: Platform = Depends(platform)) -> AsyncInvocationView:
    """Status (queued, running, succeeded, failed), the result when it is JSON, the callback's delivery."""
    return await run_in_threadpool(p.async_invocations.get, name, invocation_id)


@router.get("/endpoints/{name}/async-invocations/{invocation_id}/result",
            dependencies=[Depends(permission("endpoints:GetAsyncResult", "endpoint/{name}"))],
            responses={200: {"description": "The answer body, in the content type the model answered with.",
                             "content": {"application/json": {}, "text/csv": {}}}, **error_responses(409)})
async def get_async_result(name: Name, invocation_id: InvocationId, p: Platform = Depends(platform)) -> Response:
    """The answer body exactly as the model gave it (409 until the request succeeded)."""
    body, ctype = await run_in_threadpool(p.async_invocations.result, name, invocation_id)
    return Response(body, media_type=None, headers={"content-type": ctype})
