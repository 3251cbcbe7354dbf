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
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from slipway.controllers.base import Controller
from slipway.serving.autoscaler import Autoscaler, Observation, Policy

if TYPE_CHECKING:
    from slipway.controllers.endpoints import EndpointController
    from slipway.services import Platform
    from slipway.serving.gateway import EndpointLoad
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
        # Keyed by (endpoint, variant): each variant is scaled on its own load.
        self.scalers: dict[tuple[str, str], Autoscaler] = {}
        self.last: dict[tuple[str, str], tuple[float, float, int]] = {}  # the previous load snapshot
        self.recorded: dict[tuple[str, str], tuple[str, int]] = {}  # (kind, desired) last recorded
        self._wake = threading.Event()
        self.remote: dict[str, tuple[int, int]] = {}  # (queued, in flight) other servers reported, per endpoint
        platform.endpoints.load_probe = self.runtime.gateway.load_snapshot

    def start(self) -> None:
        self.runtime.on_demand = self.wake

    def wake(self, endpoint: str = "") -> None:
        """A request waits for a replica of ``endpoint`` (or the server stops): decide now (safe from any thread)."""
        self._wake.set()

    def sleep(self, timeout: float, stop: threading.Event) -> None:
        self._wake.wait(timeout)
        self._wake.clear()

    def reconcile(self) -> None:
        if not self.endpoints.leading:
            return
        names = self.scaler.scalable()
        self.remote = self.platform.endpoints.remote_demand() if names else {}
        for key in [k for k in self.last if k[0] not in names or k[1] not in
                    {"", *(v for v, _ in self._variants(k[0]))}]:
            self.scalers.pop(key, None)
            self.last.pop(key, None)
            self.recorded.pop(key, None)
        for name in names:
            try:
                self._look(name)
            except Exception:
                log.exception("Autoscaler: endpoint %s", name)

    def _variants(self, name: str) -> list[tuple[str, float]]:
        """(name, weight) per variant; a scaler without ``variants`` scales the first variant only."""
        known = getattr(self.scaler, "variants", None)
        if known is not None:
            return list(known(name))
        spec = self.endpoints.specs.get(name) or {}
        return [(v["name"], float(v.get("weight", 1.0))) for v in spec.get("variants", [])[:1]]

    def _look(self, name: str) -> None:
        """Each variant on its own load: what its replicas took (``Gateway.variant_load``), and its share by
        weight of the demand no variant holds yet (queued at the gateway or in the database, transform jobs)."""
        spec = (self.endpoints.specs.get(name) or {}).get("scaling")
        if not spec:
            return
        policy = Policy.from_spec(spec, window=self.platform.settings.autoscale_window)
        variants = self._variants(name)
        if not variants:
            return
        load = self.runtime.gateway.load(name)
        # Asynchronous requests still waiting in the database are demand too (they reach replicas at their own pace),
        # and so are the requests of transform jobs sending through this endpoint (their own gateway).
        # Other servers' requests (queued there, or in flight to replicas here) count as well.
        remote_queued, remote_in_flight = self.remote.get(name, (0, 0))
        queued = load.queued + self.platform.async_invocations.queued(name) + remote_queued
        jobs = self.platform.transforms.endpoint_load(name) + remote_in_flight
        single = len(variants) == 1
        arrived = 0
        if not single:  # requests that reached the endpoint since the last look, whichever variant took them
            snap = load.snapshot()
            before = self.last.get((name, ""))
            self.last[(name, "")] = snap
            arrived = snap[2] - before[2] if before is not None else 0
        weights = sum(w for _, w in variants if w > 0) or 1.0
        for variant, weight in variants:
            share = 1.0 if single else max(0.0, weight) / weights
            vload = load if single else self.runtime.gateway.variant_load(name, variant)
            waiting = math.ceil(share * queued) if share > 0 else 0
            if share > 0 and arrived and sum(self.scaler.counts(name, variant)) == 0:  # several: per variant
                waiting = max(waiting, 1)  # its share went to the other variants (none of its own): wake it
            # One variant: its gateway load counts its queue from each request's accept (not twice).
            self._look_variant(name, variant, single, policy, vload, share * jobs, waiting,
                               load.queued if single else 0)

    def _look_variant(self, name: str, variant: str, single: bool, policy: Policy, load: EndpointLoad, jobs: float,
                      queued: int, counted: int = 0) -> None:
        key = (name, variant)
        scaler = self.scalers.get(key)
        if scaler is None:
            scaler = self.scalers[key] = Autoscaler(policy, self.clock)
        scaler.policy = policy
        area, at, requests = load.snapshot()
        before = self.last.get(key)
        self.last[key] = (area, at, requests)
        if before is None:
            avg, arrived = float(load.accepted), 0
        else:
            avg = (area - before[0]) / max(1e-3, at - before[1])
            arrived = requests - before[2]
        # One variant: the calls of a ReplicaScaler that knows no variants (implemented before they were scaled).
        ready, starting = self.scaler.counts(name) if single else self.scaler.counts(name, variant)
        decision = scaler.observe(Observation(avg + jobs, load.in_flight + math.ceil(jobs), queued, ready, starting,
                                              arrived, min(counted, queued)))
        # Recorded before it is acted on: whoever sees the replica count change finds the decision that changed it.
        recorded = (decision.kind, decision.desired)
        if decision.changes or (decision.kind == "hold" and self.recorded.get(key) != recorded):
            self.recorded[key] = recorded
            reason = decision.reason if single else f"variant {variant}: {decision.reason}"
            inputs = decision.inputs if single else {**decision.inputs, "variant": variant}
            log.info("Endpoint %s: %s", name, reason)
            try:
                self.platform.endpoints.record_scaling(name, decision.replicas, decision.desired, reason, inputs)
            except Exception:  # the decision stands without its record
                log.exception("Recording the scaling decision of endpoint %s failed", name)
        elif decision.kind != "hold":
            self.recorded.pop(key, None)
        if decision.desired != ready + starting:
            if single:
                self.scaler.scale_to(name, decision.desired)
            else:
                self.scaler.scale_to(name, decision.desired, variant)
