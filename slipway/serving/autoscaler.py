"""Target tracking for one endpoint: how many replicas its load needs, without flapping.

The load is requests in flight at the gateway, each from the moment the gateway accepted it (its wait in the
queue included), time-averaged between two looks, plus requests waiting elsewhere (the async queue, other
servers), and never less than the requests waiting now; averaged over a short window. The count it asks for is ``ceil(load / target_inflight)`` within
``[min_replicas, max_replicas]``:

- **out at once**, by at most ``max_step`` replicas per decision (a queued request at zero replicas asks for one
  at once: the gateway wakes the autoscaler rather than waiting for its next tick);
- **in only after a stable period**: the lower count must hold for ``scale_in_after`` seconds, and the count
  it goes to is the highest the load asked for during that period, so a load that wavers around a boundary
  changes the count at most once per period;
- **to zero** (``min_replicas`` 0) only after ``idle_to_zero`` seconds without a request.

The autoscaler decides a count and nothing else: starting and stopping replicas is the ``ReplicaScaler``'s
(``slipway.serving.scaling``), which never stops a replica that is loading or draining. The clock is
injected so tests step through minutes without sleeping.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Autoscaler", "Decision", "Observation", "Policy"]

TOLERANCE = 0.1  # of one replica's target: a load this little above a whole count does not add a replica


@dataclass(frozen=True)
class Policy:
    min_replicas: int = 1
    max_replicas: int = 4
    target_inflight: float = 8.0
    scale_in_after: float = 300.0
    idle_to_zero: float = 900.0
    window: float = 3.0  # seconds the load is averaged over
    max_step: int = 4  # replicas added by one decision at most

    @classmethod
    def from_spec(cls, spec: dict[str, Any], window: float = 3.0, max_step: int = 4) -> Policy:
        return cls(int(spec["min_replicas"]), int(spec["max_replicas"]), float(spec["target_inflight"]),
                   float(spec["scale_in_after"]), float(spec["idle_to_zero"]), window, max_step)


@dataclass(frozen=True)
class Observation:
    """One look at an endpoint: ``in_flight_avg`` is the time-averaged in-flight count since the last look."""

    in_flight_avg: float
    in_flight: int
    queued: int
    ready: int
    starting: int
    requests: int  # requests that arrived since the last look
    # Of ``queued``, those already in ``in_flight_avg`` (waiting at this gateway: load from their accept on).
    queued_counted: int = 0


@dataclass(frozen=True)
class Decision:
    replicas: int  # ready + starting when it decided
    desired: int
    kind: str  # out | in | zero | hold | steady | start
    reason: str
    inputs: dict[str, Any]

    @property
    def changes(self) -> bool:
        return self.kind in ("out", "in", "zero")


@dataclass
class Autoscaler:
    policy: Policy
    clock: Callable[[], float] = time.monotonic
    desired: int | None = None
    samples: deque[tuple[float, float]] = field(default_factory=deque)
    last_active: float | None = None
    below_since: float | None = None
    below_peak: int = 0

    def observe(self, obs: Observation) -> Decision:
        p = self.policy
        now = self.clock()
        world = obs.ready + obs.starting
        if self.desired is None:  # first look: take the world as it is, and count the deploy as activity
            self.desired = world
            self.last_active = now
        if obs.requests > 0 or obs.in_flight > 0 or obs.queued > 0:
            self.last_active = now
        # Never less than what waits now: a burst that just arrived weighs little in a time average yet.
        load = max(obs.in_flight_avg + max(0, obs.queued - obs.queued_counted), float(obs.queued))
        self.samples.append((now, load))
        while self.samples and self.samples[0][0] < now - p.window:
            self.samples.popleft()
        avg = sum(x for _, x in self.samples) / len(self.samples)
        need = max(0, math.ceil(avg / p.target_inflight - TOLERANCE))
        if obs.queued > 0 or obs.in_flight > 0:
            need = max(need, 1)
        idle = now - (self.last_active if self.last_active is not None else now)
        floor = p.min_replicas
        if p.min_replicas == 0 and idle < p.idle_to_zero:
            floor = min(1, p.max_replicas) if self.desired > 0 or need > 0 else 0
        target = min(max(need, floor), p.max_replicas)
        inputs = {"load": round(avg, 3), "in_flight": obs.in_flight, "queued": obs.queued, "ready": obs.ready,
                  "starting": obs.starting, "target_inflight": p.target_inflight, "window_s": p.window,
                  "needs": need, "idle_s": round(idle, 1)}
        current = self.desired
        if target > current:
            self.below_since = None
            self.desired = min(target, current + p.max_step)
            why = ("requests are queued at zero replicas" if current == 0 else
                   f"load {avg:.1f} over {current} replica(s) exceeds {p.target_inflight:g} per replica")
            if self.desired < target:
                why += f" (step bounded to +{p.max_step}; {target} needed)"
            return Decision(world, self.desired, "out", f"scale out {current} -> {self.desired}: {why}", inputs)
        if target < current:
            if target == 0:  # idle_to_zero already measured the quiet time
                self.below_since = None
                self.desired = 0
                return Decision(world, 0, "zero", f"scale to zero: no request for {idle:.0f} s "
                                f"(idle_to_zero {p.idle_to_zero:g} s)", inputs)
            # In only to a count the load fits whole: the tolerance that holds a scale-out back must not invite a
            # scale-in too, or a load just above a whole count (1.05 per target) flaps between the two counts.
            fits = min(max(target, math.ceil(avg / p.target_inflight - 1e-9)), p.max_replicas)  # (float noise)
            if fits < current:
                if self.below_since is None:
                    self.below_since, self.below_peak = now, fits
                self.below_peak = max(self.below_peak, fits)
                held = now - self.below_since
                if held >= p.scale_in_after:
                    self.desired, self.below_since = self.below_peak, None
                    return Decision(world, self.desired, "in",
                                    f"scale in {current} -> {self.desired}: load {avg:.1f} needed at most "
                                    f"{self.desired} for {held:.0f} s (scale_in_after {p.scale_in_after:g} s)",
                                    inputs)
                return Decision(world, current, "hold",
                                f"hold {current}: load {avg:.1f} needs {fits}; scale in after "
                                f"{p.scale_in_after:g} s stable ({held:.0f} s so far)", inputs)
        self.below_since = None
        if world != current:
            return Decision(world, current, "start", f"bringing {world} replica(s) to {current}", inputs)
        return Decision(world, current, "steady", f"steady at {current}: load {avg:.1f}", inputs)
