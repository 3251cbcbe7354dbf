"""Forwards invocations to replicas: weighted variants, least outstanding requests, retry on a dead replica.

One pool of keep-alive connections per server process (``ReplicaPool``); a request that could not reach a replica (refused,
reset, closed mid-way) is sent again to another one, because an invocation has no side effects.

For an autoscaled endpoint (its route carries ``scaling``) the gateway also meters the load (requests in flight,
integrated over time, for the autoscaler) and, while no replica can take a request (scaled to zero, all
starting) or the endpoint is at its ``max_concurrency``, holds the request in a bounded queue: it wakes the
autoscaler at once, and releases the request to the first replica that joins the route. A full queue answers
429 and a request that waited ``queue_timeout`` 503, both with ``Retry-After`` and both counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slipway.errors import SlipwayError, Timeout, TooManyRequests, Unavailable
from slipway.serving.pool import ReplicaConnectionError, ReplicaPool

if TYPE_CHECKING:
    from slipway.serving.runtime import Route, ServingRuntime

__all__ = ["EndpointLoad", "Gateway", "Invocation", "VARIANT_HEADER", "TARGET_HEADER"]

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
    custom_attributes: str | None = None  # X-Amzn-SageMaker-Custom-Attributes a handler set, if any


class EndpointLoad:
    """An autoscaled endpoint's load at this gateway, changed only on the event loop.

    ``accepted`` counts the requests the gateway took and has not answered yet, from the moment it takes them:
    waiting in its queue (for a replica, or for a slot under ``max_concurrency``) and at a replica alike;
    ``in_flight`` only those at a replica (what ``max_concurrency`` caps). ``area`` integrates ``accepted``
    over time (request-seconds) and only grows, so a reader on another thread (the autoscaler) takes
    differences between two looks and never writes here.
    """

    __slots__ = ("in_flight", "accepted", "area", "since", "requests", "queued", "overflows", "timeouts", "loop",
                 "event")

    def __init__(self) -> None:
        self.in_flight = 0
        self.accepted = 0
        self.area = 0.0
        self.since = time.monotonic()
        self.requests = 0
        self.queued = 0
        self.overflows = 0
        self.timeouts = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.event: asyncio.Event | None = None

    def _tick(self) -> None:
        now = time.monotonic()
        self.area += self.accepted * (now - self.since)
        self.since = now

    def accept(self) -> None:
        """A request taken by the gateway: load from now on, until ``release``."""
        self._tick()
        self.accepted += 1

    def release(self) -> None:
        self._tick()
        self.accepted -= 1

    def enter(self) -> None:
        """The request goes to a replica (after ``accept``)."""
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        if self.queued:
            self.notify()  # a slot under max_concurrency freed up

    def snapshot(self) -> tuple[float, float, int]:
        """(request-seconds so far, from each request's accept, at which monotonic time, requests so far): read
        from any thread."""
        since, area, accepted = self.since, self.area, self.accepted
        now = time.monotonic()
        return area + accepted * max(0.0, now - since), now, self.requests

    def notify(self) -> None:
        """Wake the requests waiting for a replica (on the event loop)."""
        if self.event is not None:
            self.event.set()
            self.event = None

    def notify_threadsafe(self) -> None:
        loop = self.loop
        if loop is not None and self.queued and not loop.is_closed():
            loop.call_soon_threadsafe(self.notify)


class Gateway:
    def __init__(self, runtime: ServingRuntime, attempts: int = 4) -> None:
        self.runtime = runtime
        self.attempts = attempts
        self._replicas: ReplicaPool | None = None
        self.loads: dict[str, EndpointLoad] = {}
        self.variant_loads: dict[tuple[str, str], EndpointLoad] = {}  # in flight per variant (autoscaled)

    def load(self, endpoint: str) -> EndpointLoad:
        found = self.loads.get(endpoint)
        if found is None:
            found = self.loads[endpoint] = EndpointLoad()
        return found

    def variant_load(self, endpoint: str, variant: str) -> EndpointLoad:
        """One variant's requests in flight (only ``enter``/``leave``/``requests`` are used)."""
        found = self.variant_loads.get((endpoint, variant))
        if found is None:
            found = self.variant_loads[(endpoint, variant)] = EndpointLoad()
        return found

    def load_snapshot(self, endpoint: str) -> dict[str, int]:
        """This gateway's queue and load of ``endpoint`` now (for ``slipway endpoints show``)."""
        found = self.loads.get(endpoint)
        if found is None:
            return {}
        return {"queued": found.queued, "in_flight": found.in_flight, "overflows": found.overflows,
                "timeouts": found.timeouts}

    def route_changed(self, endpoint: str) -> None:
        """Called from any thread after the route of ``endpoint`` changed: waiting requests look again."""
        found = self.loads.get(endpoint)
        if found is not None:
            found.notify_threadsafe()

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
                     request_id: str | None, extra_headers: dict[str, str] | None = None) -> Invocation | None:
        """Forward one request; None when the endpoint has no route (the caller explains why).

        Every routed request is counted and timed (``runtime.metrics``), whichever way it ends; an
        answered one is offered to request capture (``runtime.capture``, sampled, never waits).
        """
        route = self.runtime.routes.get(endpoint)
        if route is None:
            return None
        start = time.perf_counter()
        try:
            result = await self._invoke(endpoint, route, body, content_type, accept, target, request_id,
                                        extra_headers)
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
                      target: str | None, request_id: str | None, extra_headers: dict[str, str] | None = None,
                      ) -> Invocation:
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
        if extra_headers:
            headers.update(extra_headers)
        if route.scaling is None:
            return await self._forward(endpoint, route, body, headers, target, None)
        load = self.load(endpoint)
        load.requests += 1
        load.accept()  # load from now on: the wait in the queue counts as much as the replica's time
        try:
            await self._admit(endpoint, load, route.scaling)
            return await self._forward(endpoint, route, body, headers, target, load)
        finally:
            load.release()

    async def _forward(self, endpoint: str, route: Route, body: bytes, headers: dict[str, str], target: str | None,
                       load: EndpointLoad | None) -> Invocation:
        tried: set[str] = set()
        last = ""
        for _ in range(self.attempts):
            route = self.runtime.routes.get(endpoint, route)
            picked = route.pick(target, frozenset(tried))
            if picked is None:
                break
            variant, replica = picked
            replica.outstanding += 1
            vload = None
            if load is not None:
                load.enter()
                vload = self.variant_load(endpoint, variant.name)
                vload.requests += 1
                vload.accept()  # a variant's load starts when it takes the request (a queued one has none yet)
                vload.enter()
            try:
                status, resp_headers, content = await self._pool().post(
                    replica.address, "/invocations", body, headers,
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
                if load is not None:
                    load.leave()
                if vload is not None:
                    vload.leave()
                    vload.release()
            return Invocation(status, content, resp_headers.get("content-type", "application/json"),
                              variant.name, variant.model, resp_headers.get("x-amzn-sagemaker-custom-attributes"))
        raise Unavailable(
            f"Endpoint {endpoint!r} has no replica that can take the request right now"
            + (f" ({last})" if last else "") + "; a replacement is starting. Retry shortly.",
            {"endpoint": endpoint, "retry_after": 1},
        )


    async def _admit(self, endpoint: str, load: EndpointLoad, scaling: dict) -> None:  # type: ignore[type-arg]
        """Return when a replica can take the request (at once, nearly always); else wait in the queue."""
        cap = scaling.get("max_concurrency")

        def free() -> bool:  # True also when the route went away (deleted): the caller explains at once
            route = self.runtime.routes.get(endpoint)
            return route is None or (route.servable() and (cap is None or load.in_flight < cap))

        if free():
            return
        size, wait = int(scaling["queue_size"]), float(scaling["queue_timeout"])
        if load.queued >= size:
            load.overflows += 1
            raise TooManyRequests(
                f"Endpoint {endpoint!r} has {load.queued} requests waiting for a replica, its limit "
                f"(scaling 'queue_size' {size}). Retry shortly.",
                {"endpoint": endpoint, "queue_size": size, "retry_after": 1})
        loop = asyncio.get_running_loop()
        load.loop = loop
        load.queued += 1
        if load.queued == 1:  # the first of a wait (a burst logs once): the timeline of a wake-up from zero
            log.info("Endpoint %s: a request waits for a replica; waking the autoscaler", endpoint)
        if self.runtime.on_demand is not None:
            self.runtime.on_demand(endpoint)  # the autoscaler acts now, not at its next tick
        deadline = loop.time() + wait
        try:
            while not free():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    load.timeouts += 1
                    raise Unavailable(
                        f"Endpoint {endpoint!r} had no replica ready within {wait:g} s (scaling 'queue_timeout'); "
                        "one is starting. Retry shortly.",
                        {"endpoint": endpoint, "queue_timeout": wait, "retry_after": max(1, round(wait / 4))})
                if load.event is None:
                    load.event = asyncio.Event()
                event = load.event
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    pass
        finally:
            load.queued -= 1


def _variant(route: Route, target: str | None) -> str:
    """The metric label of a failed request: the targeted variant if it exists (never the caller's raw text)."""
    return target if target is not None and any(v.name == target for v in route.variants) else ""
