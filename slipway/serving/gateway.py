"""Forwards invocations to replicas: weighted variants, least outstanding requests, retry on a dead replica.

One pool of keep-alive connections per server process (``ReplicaPool``); a request that could not reach a replica (refused,
reset, closed mid-way) is sent again to another one, because an invocation has no side effects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slipway.errors import SlipwayError, Timeout, Unavailable
from slipway.serving.pool import ReplicaConnectionError, ReplicaPool

if TYPE_CHECKING:
    from slipway.serving.runtime import Route, ServingRuntime

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

    def count_refused(self, endpoint: str, status: int) -> None:
        """Count a request refused before it reached the gateway (413), if the endpoint is routed: the
        name comes from the URL, and only routed endpoints may become metric labels."""
        if endpoint in self.runtime.routes:
            self.runtime.metrics.record(endpoint, "", status, 0.0)

    async def invoke(self, endpoint: str, body: bytes, content_type: str, accept: str, target: str | None,
                     request_id: str | None) -> Invocation | None:
        """Forward one request; None when the endpoint has no route (the caller explains why).

        Every routed request is counted and timed (``runtime.metrics``), whichever way it ends; an
        answered one is offered to request capture (``runtime.capture``, sampled, never waits).
        """
        route = self.runtime.routes.get(endpoint)
        if route is None:
            return None
        start = time.perf_counter()
        try:
            result = await self._invoke(endpoint, route, body, content_type, accept, target, request_id)
        except SlipwayError as exc:
            self.runtime.metrics.record(endpoint, _variant(route, target), exc.status_code, time.perf_counter() - start)
            raise
        except asyncio.CancelledError:  # the caller went away: nginx's 499, a client-side outcome
            self.runtime.metrics.record(endpoint, _variant(route, target), 499, time.perf_counter() - start)
            raise
        except Exception:  # a bug: the caller gets a 500 with a request id
            self.runtime.metrics.record(endpoint, _variant(route, target), 500, time.perf_counter() - start)
            raise
        self.runtime.metrics.record(endpoint, result.variant, result.status, time.perf_counter() - start)
        self.runtime.capture.offer(endpoint, result.variant, request_id or "", content_type, body,
                                   result.content_type, result.body)
        return result

    async def _invoke(self, endpoint: str, route: Route, body: bytes, content_type: str, accept: str,
                      target: str | None, request_id: str | None) -> Invocation:
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


def _variant(route: Route, target: str | None) -> str:
    """The metric label of a failed request: the targeted variant if it exists (never the caller's raw text)."""
    return target if target is not None and any(v.name == target for v in route.variants) else ""
