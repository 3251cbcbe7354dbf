"""The gateway's queue for an autoscaled endpoint with no replica: it wakes the autoscaler, bounds the queue
(429) and the wait (503), both with Retry-After and counted; a fixed endpoint is not queued."""

from __future__ import annotations

import asyncio

import pytest

from slipway.errors import TooManyRequests, Unavailable
from slipway.services import Platform
from slipway.serving.runtime import Route, VariantRoute

SCALING = {"min_replicas": 0, "max_replicas": 2, "queue_size": 2, "queue_timeout": 0.2, "max_concurrency": None}


def _route(name: str, scaling: dict | None) -> Route:  # type: ignore[type-arg]
    return Route(name, (VariantRoute("primary", "cancer:1", 1.0, ()),), scaling)


def test_requests_at_zero_replicas_wake_the_scaler_then_overflow_or_time_out(platform: Platform) -> None:
    runtime = platform.serving
    woken: list[str] = []
    runtime.on_demand = woken.append
    runtime.set_route(_route("ep", SCALING))
    gateway = runtime.gateway

    async def burst() -> list[BaseException | object]:
        calls = [gateway.invoke("ep", b"{}", "application/json", "", None, None) for _ in range(5)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(burst())
    overflow = [r for r in results if isinstance(r, TooManyRequests)]
    late = [r for r in results if isinstance(r, Unavailable)]
    assert len(overflow) == 3 and len(late) == 2  # a queue of 2: three refused at once, two waited 0.2 s
    assert overflow[0].details["retry_after"] == 1 and "queue_size" in overflow[0].message
    assert late[0].details["retry_after"] >= 1 and "queue_timeout" in late[0].message
    assert woken == ["ep", "ep"]
    assert gateway.load_snapshot("ep") == {"queued": 0, "in_flight": 0, "overflows": 3, "timeouts": 2}
    # Load counts from the gateway's accept: the two that waited 0.2 s each are 0.4 request-seconds for the
    # autoscaler although no replica ever took them; nothing is left in flight.
    load = gateway.load("ep")
    area, _, requests = load.snapshot()
    assert requests == 5 and area >= 0.4 - 1e-6 and load.accepted == 0
    cell = runtime.metrics.totals()[("ep", "")]
    assert cell.requests == 5 and cell.classes[3] == 3 and cell.classes[4] == 2  # in the endpoint's 4xx and 5xx


def test_a_fixed_endpoint_without_replicas_is_refused_at_once(platform: Platform) -> None:
    runtime = platform.serving
    runtime.set_route(_route("fixed", None))
    with pytest.raises(Unavailable, match="no replica that can take the request"):
        asyncio.run(runtime.gateway.invoke("fixed", b"{}", "application/json", "", None, None))
    assert runtime.gateway.load_snapshot("fixed") == {}
