"""Forwards invocations to replicas: weighted variants, least outstanding requests, retry on a dead replica.

One pool of keep-alive connections per server process (``ReplicaPool``); a request that could not reach a replica (refused,
reset, closed mid-way) is sent again to another one, because an invocation has no side effects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slipway.errors import Timeout, Unavailable
from slipway.serving.pool import ReplicaConnectionError, ReplicaPool

if TYPE_CHECKING:
    from slipway.serving.runtime import ServingRuntime

__all__ = ["Gateway", "Invocation", "VARIANT_HEADER", "TARGET_HEADER"]

log = logging.getLogger("slipway.gateway")
VARIANT_HEADER = "X-Slipway-Variant"
MODEL_HEADER = "X-Slipway-Model"
TARGET_HEADER = "X-Slipway-Target-Variant"


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
        self._replicas: ReplicaPool | None = None

    def _pool(self) -> ReplicaPool:
        if self._replicas is None:
            self._replicas = ReplicaPool()
        return self._replicas

    async def aclose(self) -> None:
        if self._replicas is not None:
            await self._replicas.aclose()
            self._replicas = None

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
                status, resp_headers, content = await self._pool().post(
                    replica.uds or replica.port, "/invocations", body, headers,
                    self.runtime.settings.invocation_timeout + 5.0)
            except ReplicaConnectionError as exc:
                tried.add(replica.replica_id)
                last = f"{exc} from replica {replica.replica_id}"
                if not replica.alive():
                    replica.suspect = True
                continue
            except TimeoutError:
                limit = self.runtime.settings.invocation_timeout
                raise Timeout(
                    f"Endpoint {endpoint!r} did not answer within the limit of {limit:g} s per request "
                    "(setting 'invocation_timeout').", {"limit_seconds": limit},
                ) from None
            finally:
                replica.outstanding -= 1
            return Invocation(status, content, resp_headers.get("content-type", "application/json"),
                              variant.name, variant.model)
        raise Unavailable(
            f"Endpoint {endpoint!r} has no replica that can take the request right now"
            + (f" ({last})" if last else "") + "; a replacement is starting. Retry shortly.",
            {"endpoint": endpoint, "retry_after": 1},
        )
