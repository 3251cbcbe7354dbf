"""Forwards invocations to replicas: weighted variants, least outstanding requests, retry on a dead replica.

One keep-alive ``httpx.AsyncClient`` per server process; a request that could not reach a replica (refused,
reset, closed mid-way) is sent again to another one, because an invocation has no side effects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from slipway.errors import Timeout, Unavailable

if TYPE_CHECKING:
    from slipway.serving.runtime import ServingRuntime

__all__ = ["Gateway", "Invocation", "VARIANT_HEADER", "TARGET_HEADER"]

log = logging.getLogger("slipway.gateway")
VARIANT_HEADER = "X-Slipway-Variant"
MODEL_HEADER = "X-Slipway-Model"
TARGET_HEADER = "X-Slipway-Target-Variant"
RETRYABLE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.PoolTimeout)


@dataclass
class Invocation:
    status: int
    body: bytes
    content_type: str
    variant: str
    model: str


class Gateway:
    def __init__(self, runtime: ServingRuntime, attempts: int = 4) -> None:
        self.runtime = runtime
        self.attempts = attempts
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = self.runtime.settings.invocation_timeout
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(timeout + 5.0, connect=5.0),
                limits=httpx.Limits(max_connections=1024, max_keepalive_connections=256, keepalive_expiry=30),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def routed(self, endpoint: str) -> bool:
        return endpoint in self.runtime.routes

    async def invoke(self, endpoint: str, body: bytes, content_type: str, accept: str, target: str | None,
                     request_id: str | None) -> Invocation | None:
        """Forward one request; None when the endpoint has no route (the caller explains why)."""
        route = self.runtime.routes.get(endpoint)
        if route is None:
            return None
        if target is not None and target not in {v.name for v in route.variants}:
            from slipway.errors import NotFound

            names = ", ".join(v.name for v in route.variants)
            raise NotFound(f"Endpoint {endpoint!r} has no variant {target!r} ({TARGET_HEADER}). Variants: {names}.",
                           {"field": TARGET_HEADER, "value": target, "variants": [v.name for v in route.variants]})
        headers = {"content-type": content_type or "application/json"}
        if accept:
            headers["accept"] = accept
        if request_id:
            headers["x-request-id"] = request_id
        tried: set[str] = set()
        last = ""
        for _ in range(self.attempts):
            route = self.runtime.routes.get(endpoint, route)
            picked = route.pick(target, frozenset(tried))
            if picked is None:
                break
            variant, replica = picked
            replica.outstanding += 1
            try:
                resp = await self._http().post(replica.url + "/invocations", content=body, headers=headers)
            except RETRYABLE as exc:
                tried.add(replica.replica_id)
                last = f"{type(exc).__name__} from replica {replica.replica_id}"
                if not replica.alive():
                    replica.suspect = True
                continue
            except httpx.TimeoutException:
                limit = self.runtime.settings.invocation_timeout
                raise Timeout(
                    f"Endpoint {endpoint!r} did not answer within the limit of {limit:g} s per request "
                    "(setting 'invocation_timeout').", {"limit_seconds": limit},
                ) from None
            finally:
                replica.outstanding -= 1
            return Invocation(resp.status_code, resp.content, resp.headers.get("content-type", "application/json"),
                              variant.name, variant.model)
        raise Unavailable(
            f"Endpoint {endpoint!r} has no replica that can take the request right now"
            + (f" ({last})" if last else "") + "; a replacement is starting. Retry shortly.",
            {"endpoint": endpoint, "retry_after": 1},
        )
