"""The autoscaler's decisions on a stepped clock: out at once (bounded), in after a stable period, to zero
when idle, never flapping under a wavering steady load."""

from __future__ import annotations

import math

from slipway.serving.autoscaler import Autoscaler, Decision, Observation, Policy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def look(a: Autoscaler, clock: Clock, load: float, ready: int, queued: int = 0, step: float = 0.5,
         requests: int | None = None) -> Decision:
    clock.now += step
    busy = int(load > 0)
    return a.observe(Observation(load, busy, queued, ready, 0, busy if requests is None else requests))


def test_scales_out_at_once_in_bounded_steps_and_never_above_max() -> None:
    clock = Clock()
    a = Autoscaler(Policy(min_replicas=1, max_replicas=10, target_inflight=4, window=1.0, max_step=4), clock)
    assert look(a, clock, 1.0, ready=1).kind == "steady"
    d = look(a, clock, 64.0, ready=1)  # 64 in flight averaged with 1 over the window: needs 9
    assert (d.kind, d.desired) == ("out", 5)  # +4 at most per decision
    assert "step bounded" in d.reason and d.inputs["in_flight"] == 1 and d.inputs["target_inflight"] == 4
    d = look(a, clock, 64.0, ready=5)
    assert (d.kind, d.desired) == ("out", 9)
    d = look(a, clock, 64.0, ready=9)
    assert (d.kind, d.desired) == ("out", 10)  # max_replicas
    assert look(a, clock, 400.0, ready=10).kind == "steady"
    # The gateway's queue is in its time-averaged load from each request's accept: counted once, not twice;
    # and never less than what waits now (a burst that just arrived).
    b = Autoscaler(Policy(min_replicas=1, max_replicas=10, target_inflight=8, window=1.0), clock)
    clock.now += 0.5
    assert b.observe(Observation(24.0, 8, 16, 1, 0, 24, queued_counted=16)).desired == 3
    c = Autoscaler(Policy(min_replicas=1, max_replicas=10, target_inflight=8, window=1.0), clock)
    assert c.observe(Observation(2.0, 0, 40, 1, 0, 40, queued_counted=40)).desired == 5


def test_scales_in_only_after_the_stable_period_to_the_highest_need_seen() -> None:
    clock = Clock()
    a = Autoscaler(Policy(min_replicas=1, max_replicas=8, target_inflight=4, scale_in_after=60, window=1.0), clock)
    a.desired = 6
    kinds = []
    for t in range(110):  # 55 s of a load needing 2, one spike needing 3
        d = look(a, clock, 12.0 if t == 40 else 8.0, ready=6)
        kinds.append(d.kind)
        assert d.desired == 6
    assert set(kinds) == {"hold"} and "scale in after 60 s" in d.reason
    for _ in range(12):
        d = look(a, clock, 8.0, ready=6)
        if d.kind == "in":
            break
    assert (d.kind, d.desired) == ("in", 3)  # the spike's need, not the last sample's
    assert look(a, clock, 8.0, ready=3).kind == "hold"  # a new period starts


def test_a_steady_load_wavering_around_a_boundary_changes_nothing() -> None:
    clock = Clock()
    a = Autoscaler(Policy(min_replicas=1, max_replicas=8, target_inflight=4, scale_in_after=60, window=3.0), clock)
    a.desired = 2
    changes = [d for t in range(1200)
               if (d := look(a, clock, 8.3 if t % 2 else 7.7, ready=2)).changes]  # 10 minutes around 2 x 4
    assert changes == []


def test_a_load_wavering_just_above_a_whole_count_scales_out_once_and_stays() -> None:
    """A load of 1.02-1.14 per target: over one replica's tolerance at times, so it gets a second replica; it
    must then keep it (it does not fit one), not give it back after each stable period and take it again."""
    clock = Clock()
    a = Autoscaler(Policy(min_replicas=1, max_replicas=3, target_inflight=1, scale_in_after=2, window=3.0), clock)
    a.desired = 1
    changes = [(d.kind, d.desired) for t in range(1200)  # 10 minutes
               if (d := look(a, clock, 1.08 + 0.06 * math.sin(t / 10), ready=a.desired or 1)).changes]
    assert changes == [("out", 2)]


def test_zero_wakes_on_a_queued_request_and_goes_back_to_zero_after_idle() -> None:
    clock = Clock()
    a = Autoscaler(Policy(min_replicas=0, max_replicas=4, target_inflight=8, scale_in_after=30, idle_to_zero=60,
                          window=1.0), clock)
    a.desired = 0
    assert look(a, clock, 0.0, ready=0, requests=0).desired == 0
    d = look(a, clock, 0.0, ready=0, queued=100, requests=100)
    assert (d.kind, d.desired) == ("out", 4) and "queued at zero" in d.reason
    for _ in range(20):
        d = look(a, clock, 0.0, ready=4, requests=0)
    assert d.desired == 4 and d.kind == "hold"  # quiet but not yet for scale_in_after
    for _ in range(60):
        d = look(a, clock, 0.0, ready=4, requests=0)
        if d.changes:
            break
    assert (d.kind, d.desired) == ("in", 1)  # min 0 keeps one replica until idle_to_zero
    while (d := look(a, clock, 0.0, ready=1, requests=0)).kind != "zero":
        assert clock.now < 1000 + 200
    assert d.desired == 0 and "no request for 6" in d.reason


def test_a_new_endpoint_at_zero_min_waits_idle_to_zero_from_the_deploy() -> None:
    clock = Clock()
    a = Autoscaler(Policy(min_replicas=0, max_replicas=2, idle_to_zero=10, window=1.0), clock)
    assert look(a, clock, 0.0, ready=1, requests=0).desired == 1
    clock.now += 10
    assert look(a, clock, 0.0, ready=1, requests=0).kind == "zero"
