"""The autoscaler: looks at each autoscaled endpoint's load twice a second and asks for a replica count.

Load comes from this server's gateway (``EndpointLoad``: requests in flight integrated over time, requests
queued); the decision from ``slipway.serving.autoscaler.Autoscaler`` (target tracking, out at once, in after
a stable period, to zero after idle); the replicas are started and stopped by a ``ReplicaScaler`` (the
endpoint controller, with local processes). A request that has to wait for a replica wakes this controller
at once (``ServingRuntime.on_demand``), so a cold start begins without waiting for the next tick.

Every decision that changes the count, and the first of each run of holds, is recorded with its inputs
(``EndpointService.record_scaling``, the newest few hundred per endpoint) and shown by
``slipway endpoints show``. It acts where the endpoint controller leads; elsewhere it only watches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from slipway.controllers.base import Controller
from slipway.serving.autoscaler import Autoscaler, Observation, Policy

if TYPE_CHECKING:
    from slipway.controllers.endpoints import EndpointController
    from slipway.services import Platform
    from slipway.serving.scaling import ReplicaScaler

__all__ = ["AutoscaleController"]

log = logging.getLogger("slipway.controllers.autoscale")


class AutoscaleController(Controller):
    name = "autoscaler"
    interval = 0.5
    singleton = False  # acts only where the endpoints controller leads (its replicas, its gateway)

    def __init__(self, platform: Platform, endpoints: EndpointController,
                 clock: Callable[[], float] = time.monotonic, scaler: ReplicaScaler | None = None) -> None:
        self.platform = platform
        self.endpoints = endpoints
        self.scaler: ReplicaScaler = scaler if scaler is not None else endpoints
        self.runtime = platform.serving
        self.clock = clock
        self.scalers: dict[str, Autoscaler] = {}
        self.last: dict[str, tuple[float, float, int]] = {}  # endpoint -> the previous load snapshot
        self.recorded: dict[str, tuple[str, int]] = {}  # endpoint -> (kind, desired) last recorded
        self._wake = threading.Event()
        platform.endpoints.load_probe = self.runtime.gateway.load_snapshot

    def start(self) -> None:
        self.runtime.on_demand = self.wake

    def wake(self, endpoint: str) -> None:
        """A request waits for a replica of ``endpoint``: decide now (safe from any thread)."""
        self._wake.set()

    def sleep(self, timeout: float, stop: threading.Event) -> None:
        self._wake.wait(timeout)
        self._wake.clear()

    def reconcile(self) -> None:
        if not self.endpoints.leading:
            return
        names = self.scaler.scalable()
        for name in [n for n in self.scalers if n not in names]:
            self.scalers.pop(name, None)
            self.last.pop(name, None)
            self.recorded.pop(name, None)
        for name in names:
            try:
                self._look(name)
            except Exception:
                log.exception("Autoscaler: endpoint %s", name)

    def _look(self, name: str) -> None:
        spec = (self.endpoints.specs.get(name) or {}).get("scaling")
        if not spec:
            return
        policy = Policy.from_spec(spec, window=self.platform.settings.autoscale_window)
        scaler = self.scalers.get(name)
        if scaler is None:
            scaler = self.scalers[name] = Autoscaler(policy, self.clock)
        scaler.policy = policy
        load = self.runtime.gateway.load(name)
        area, at, requests = load.snapshot()
        before = self.last.get(name)
        self.last[name] = (area, at, requests)
        if before is None:
            avg, arrived = float(load.in_flight), 0
        else:
            avg = (area - before[0]) / max(1e-3, at - before[1])
            arrived = requests - before[2]
        # Transform jobs sending through this endpoint (their own gateway) are load too.
        jobs = self.platform.transforms.endpoint_load(name)
        avg += jobs
        ready, starting = self.scaler.counts(name)
        # Asynchronous requests still waiting in the database are demand too (they reach replicas at their own pace).
        queued = load.queued + self.platform.async_invocations.queued(name)
        decision = scaler.observe(Observation(avg, load.in_flight + jobs, queued, ready, starting, arrived))
        if decision.desired != ready + starting:
            self.scaler.scale_to(name, decision.desired)
        key = (decision.kind, decision.desired)
        if decision.changes or (decision.kind == "hold" and self.recorded.get(name) != key):
            self.recorded[name] = key
            log.info("Endpoint %s: %s", name, decision.reason)
            self.platform.endpoints.record_scaling(name, decision.replicas, decision.desired, decision.reason,
                                                   decision.inputs)
        elif decision.kind != "hold":
            self.recorded.pop(name, None)
