"""Makes endpoints match their desired state: starts replica processes, health-checks, swaps routes, heals.

Each change runs in a worker thread per endpoint (never two at once for one endpoint):
new replicas start and answer /ping before the route moves to them; the replicas left over drain
their requests in flight, then stop. A deployment whose replicas fail leaves the old route in place.

Replicas outlive a crash of the server. At start the controller adopts the replicas the database
lists that are still the same processes (pid and start time), still wanted by their endpoint, and answer
/ping: they are routed before the server answers its first request. It stops every other replica of this
home (of endpoints deleted meanwhile, or that did not answer), removes the model copies nobody uses, and
says `Recovering` for an endpoint left with no healthy replica until a fresh one serves. A clean stop
stops every replica.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slipway.controllers.base import Controller
from slipway.serving.runtime import ReplicaFailed, ReplicaHandle, Route, VariantRoute

if TYPE_CHECKING:
    from slipway.services import Platform
    from slipway.services.endpoints import EndpointState

__all__ = ["EndpointController"]

log = logging.getLogger("slipway.controllers.endpoints")


class EndpointController(Controller):
    name = "endpoints"
    interval = 0.1
    full_every = 2.0  # seconds between reads of the database when nothing happened here

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.runtime = platform.serving
        self.applied: dict[str, int] = {}  # generation last applied (successfully or not)
        self.specs: dict[str, dict[str, Any]] = {}  # spec the current handles serve
        self.handles: dict[str, list[ReplicaHandle]] = {}
        self.spawned: set[ReplicaHandle] = set()
        self.busy: set[str] = set()
        self.waiting: dict[str, int] = {}  # endpoint -> the count a scale asked for while a step was in progress
        self.lock = threading.Lock()
        self.workers: list[threading.Thread] = []
        self.stopping = False
        self._seen_changes = -1
        self._last_full = 0.0
        # Autoscaled endpoints (spec "scaling"): per variant, the count the autoscaler asked for, and replicas on
        # their way.
        self.scaled: dict[str, dict[str, int]] = {}
        self.starting: dict[str, dict[str, int]] = {}
        self.scale_backoff: dict[str, float] = {}  # after a failed scale-out, no new try before this (monotonic)

    @property
    def service(self):  # type: ignore[no-untyped-def]
        return self.platform.endpoints

    def start(self) -> None:
        self.runtime.renew_lease(force=True)
        states = {st.name: st for st in self.service.states()}
        adopted: dict[str, list[ReplicaHandle]] = {}
        for r in self.service.recorded_replicas():
            st = states.get(r.endpoint)
            if st is None or st.status == "Deleting" or r.model not in _models(st.live) | _models(st.desired):
                continue
            h = self.runtime.adopt(r.endpoint, r.variant, r.model, r.replica_id, r.pid, r.proc_start, r.port, r.uds,
                                   r.artifact_dir, r.options, r.started_at, host=r.host)
            if h is not None:
                adopted.setdefault(r.endpoint, []).append(h)
        for pid in self.runtime.stop_leftovers({h.pid for hs in adopted.values() for h in hs}):
            log.info("Stopped replica %s left by an earlier server on this home", pid)
        self.service.forget_replicas()
        for name, hs in adopted.items():
            self.spawned.update(hs)
            st = states[name]
            if (st.desired or {}).get("scaling"):
                counts: dict[str, int] = {}
                for h in hs:  # the autoscaler carries on from what serves
                    counts[h.variant] = counts.get(h.variant, 0) + 1
                self.scaled[name] = counts
            self._publish(name, st.live or st.desired, [(h.variant, h) for h in hs])
            self._record_replicas(name)
            log.info("Endpoint %s: adopted %d replica(s) of an earlier server", name, len(hs))
        for name, st in states.items():
            if st.status == "InService" and not self._serving(name):
                self.service.mark_recovering(
                    name, "no replica of the previous server was left; starting new ones")
        self.runtime.remove_unused_copies()
        self.runtime.prepare_standby()

    def _serving(self, name: str) -> bool:
        """Whether a live replica is in the route of ``name``."""
        route = self.runtime.routes.get(name)
        return route is not None and any(h.alive() for h in route.handles())

    def reconcile(self) -> None:
        self.runtime.renew_lease()
        # Read the database when this process changed something, every few seconds (another
        # writer), or when a replica died; otherwise a pass costs nothing.
        changes = self.service.changes
        dead = any(not h.alive() for hs in self.handles.values() for h in hs)
        if changes == self._seen_changes and not dead and time.monotonic() - self._last_full < self.full_every:
            return
        self._seen_changes, self._last_full = changes, time.monotonic()
        states = self.service.states()
        seen = set()
        for st in states:
            seen.add(st.name)
            if st.name in self.busy:
                self._seen_changes = -1  # look again next pass: this one may have changed meanwhile
                continue
            if st.status == "Deleting":
                self._submit(st.name, self._delete, st)
            elif self.applied.get(st.name) != st.generation:
                self._submit(st.name, self._apply, st)
            elif any(not h.alive() for h in self.handles.get(st.name, [])):
                self._submit(st.name, self._heal, st)
        for name in list(self.handles):
            if name not in seen and name not in self.busy:
                self._submit(name, self._forget, None)
        self.workers = [t for t in self.workers if t.is_alive()]

    def stop(self) -> None:
        self.stopping = True
        for t in list(self.workers):
            t.join(5.0)
        for name in list(self.runtime.routes):
            self.runtime.drop_route(name)
        self.runtime.stop(list(self.spawned))
        self.spawned.clear()
        self.runtime.close()
        try:
            self.service.forget_replicas()
        except Exception:
            log.exception("Could not clear replica records")

    # -- workers ---------------------------------------------------------------------------------

    def _submit(self, name: str, fn: Callable[[Any], None], st: Any) -> None:
        if self.stopping:
            return
        with self.lock:
            if name in self.busy:
                return
            self.busy.add(name)
        t = threading.Thread(target=self._run, args=(name, fn, st), name=f"endpoint-{name}", daemon=True)
        self.workers.append(t)
        t.start()

    def _run(self, name: str, fn: Callable[[Any], None], st: Any) -> None:
        try:
            fn(st)
        except Exception:
            log.exception("Endpoint %s: reconcile step failed", name)
        finally:
            with self.lock:
                self.busy.discard(name)

    def _apply(self, st: EndpointState) -> None:
        name, gen, target = st.name, st.generation, st.desired
        current = self.handles.get(name, [])
        started = time.monotonic()
        try:
            placed, reused = self._bring_up(name, target, current)
        except Exception as exc:
            if self.stopping:  # the server is shutting down: the next server carries on from the database
                return
            reason = str(exc) if isinstance(exc, ReplicaFailed) else f"{type(exc).__name__}: {exc}"
            log.warning("Endpoint %s: deployment of generation %s failed: %s", name, gen, reason)
            self.applied[name] = gen
            if not self._serving(name) and st.live and st.live != target:
                # Restarted in the middle of an update that now fails: come back on what served before.
                try:
                    placed, reused = self._bring_up(name, st.live, current)
                    self._publish(name, st.live, placed)
                    self._stop([h for h in current if h not in reused])
                except Exception as exc2:
                    log.warning("Endpoint %s: restoring the live configuration failed: %s", name, exc2)
            self._record_replicas(name)
            self.service.mark_failed(name, gen, reason, serving=self._serving(name))
            return
        if self.stopping:
            self.runtime.stop([h for _, h in placed if h not in reused])
            return
        old = [h for h in current if h not in reused]
        self._publish(name, target, placed)
        self.applied[name] = gen
        self._record_replicas(name)  # before the status: whoever sees InService sees the replicas too
        if target.get("scaling"):  # the deploy's warning compares the queue deadline with this
            for _, h in placed:
                if h not in reused:
                    self.service.record_cold_start(name, h.model, time.time() - h.started_at)
        self.service.mark_succeeded(name, gen, target)
        log.debug("Endpoint %s: generation %s in service %.3f s after the controller took it", name, gen,
                  time.monotonic() - started)
        if old:
            self.runtime.drain(old)
            self._stop(old)

    def _bring_up(self, name: str, spec: dict[str, Any], current: list[ReplicaHandle]
                  ) -> tuple[list[tuple[str, ReplicaHandle]], set[ReplicaHandle]]:
        """Place replicas for ``spec``: reuse ready ones serving the same model, start the rest, wait for all."""
        pool = [h for h in current if h.alive() and h.status == "Ready"]
        placed: list[tuple[str, ReplicaHandle]] = []
        reused: set[ReplicaHandle] = set()
        new: list[ReplicaHandle] = []
        try:
            for v in spec.get("variants", []):
                for _ in range(self._count(name, spec, v)):
                    options = v.get("serving") or {}
                    match = next((h for h in pool if h.model == v["model"] and h.options == options), None)
                    if match is not None:
                        pool.remove(match)
                        reused.add(match)
                        placed.append((v["name"], match))
                        continue
                    h = self._spawn(name, v["name"], v["model"], options)
                    new.append(h)
                    placed.append((v["name"], h))
            self.runtime.wait_ready(new)
        except BaseException:
            self._stop(new)
            raise
        return placed, reused

    def _count(self, name: str, spec: dict[str, Any], variant: dict[str, Any]) -> int:
        """Replicas of a variant: its fixed count, or (autoscaled) the autoscaler's within min..max (each variant
        on its own).

        A new autoscaled endpoint starts one replica of each variant even with min_replicas 0: the deploy checks
        that the model loads and measures its cold start; idle_to_zero stops it later."""
        scaling = spec.get("scaling")
        if not scaling:
            return int(variant.get("replicas", 1))
        low, high = int(scaling["min_replicas"]), int(scaling["max_replicas"])
        counts = self.scaled.setdefault(name, {})
        count = counts.get(variant["name"], max(low, 1))
        counts[variant["name"]] = min(max(count, low), high)
        return counts[variant["name"]]

    # -- autoscaling (slipway.serving.scaling.ReplicaScaler) ---------------------------------------

    def scalable(self) -> list[str]:
        return [n for n, spec in list(self.specs.items()) if spec.get("scaling")]

    def variants(self, endpoint: str) -> list[tuple[str, float]]:
        """(name, weight) of each variant of ``endpoint``, in its spec's order."""
        return [(v["name"], float(v.get("weight", 1.0))) for v in (self.specs.get(endpoint) or {}).get("variants", [])]

    def counts(self, endpoint: str, variant: str | None = None) -> tuple[int, int]:
        ready = sum(1 for h in self.handles.get(endpoint, []) if h.alive() and h.status == "Ready"
                    and (variant is None or h.variant == variant))
        starting = self.starting.get(endpoint, {})
        return ready, (sum(starting.values()) if variant is None else starting.get(variant, 0))

    def scale_to(self, endpoint: str, replicas: int, variant: str | None = None) -> bool:
        spec = self.specs.get(endpoint) or {}
        if self.stopping or not spec.get("scaling") or not spec.get("variants"):
            return False
        self.scaled.setdefault(endpoint, {})[variant or spec["variants"][0]["name"]] = replicas
        if endpoint in self.busy or time.monotonic() < self.scale_backoff.get(endpoint, 0.0):
            if self.waiting.get(endpoint) != replicas:  # once per count asked (the scaler asks every look)
                self.waiting[endpoint] = replicas
                log.info("Endpoint %s: scaling to %d waits for the step in progress", endpoint, replicas)
            return False  # kept: the next look asks again
        self.waiting.pop(endpoint, None)
        self._submit(endpoint, self._scale, endpoint)
        return True

    def _scale(self, name: str) -> None:
        """Start or stop replicas of an autoscaled endpoint toward ``scaled``, variant by variant: each new one
        joins the route as soon as it answers; only ready replicas stop (fewest requests in flight first), out of
        the route, drained."""
        spec = self.specs.get(name)
        if spec is None or not spec.get("scaling") or not spec.get("variants"):
            return
        handles = [h for h in self.handles.get(name, []) if h.alive()]
        wants = self.scaled.get(name, {})
        more = {v["name"]: wants.get(v["name"], 0) - sum(1 for h in handles if h.variant == v["name"])
                for v in spec["variants"]}
        if any(n > 0 for n in more.values()):
            new: list[ReplicaHandle] = []
            self.starting[name] = {k: n for k, n in more.items() if n > 0}

            lock = threading.Lock()
            waiters: list[threading.Thread] = []
            failed: list[ReplicaHandle] = []
            began: dict[str, float] = {}

            def ready(h: ReplicaHandle) -> None:  # routed the moment it answers: queued requests go to it
                with lock:
                    handles.append(h)
                    self.starting[name][h.variant] = self.starting[name].get(h.variant, 1) - 1
                    self._publish(name, spec, [(h2.variant, h2) for h2 in handles])
                # From the spawn on: a process that starts without the warm spare reports its port (the
                # handle's start) only after its imports, seconds that the cold start must show.
                cold = time.time() - began.get(h.replica_id, h.started_at)
                log.info("Endpoint %s: replica %s ready %.2f s after its spawn, in the route", name, h.replica_id,
                         cold)
                self._record_replicas(name)
                self.service.record_cold_start(name, h.model, cold)
                self.service.mark_recovered(name)

            def wait(h: ReplicaHandle) -> None:
                lost = self.runtime.wait_each_ready([h], ready)
                with lock:
                    failed.extend(lost)

            try:
                for v in spec["variants"]:
                    for _ in range(more[v["name"]]):
                        at = time.time()
                        h = self._spawn(name, v["name"], v["model"], v.get("serving") or {})
                        began[h.replica_id] = at
                        new.append(h)
                        # Waited for from now on, while the next ones start (a start without the warm spare
                        # takes seconds: its process reports its port after its imports): the first one ready
                        # takes the queued requests, not only once every replica of the step has started.
                        t = threading.Thread(target=wait, args=(h,), name=f"endpoint-{name}-ready", daemon=True)
                        t.start()
                        waiters.append(t)
                for t in waiters:
                    t.join()
                if failed:
                    log.warning("Endpoint %s: %d new replica(s) did not become ready; stopping them", name,
                                len(failed))
                    self._stop(failed)
                    self.scale_backoff[name] = time.monotonic() + 5.0
            except Exception as exc:
                log.warning("Endpoint %s: scaling out failed: %s", name, exc)
                for t in waiters:
                    t.join()
                self._stop([h for h in new if h not in handles])
                self.scale_backoff[name] = time.monotonic() + 5.0
            finally:
                self.starting.pop(name, None)
                self._record_replicas(name)
            return
        victims: list[ReplicaHandle] = []
        for v in spec["variants"]:
            ready = sorted((h for h in handles if h.status == "Ready" and h.variant == v["name"]),
                           key=lambda h: h.outstanding)
            victims += ready[:max(0, -more[v["name"]])]
        if not victims:
            return
        self._publish(name, spec, [(h.variant, h) for h in handles if h not in victims])
        self._record_replicas(name)
        # Out of the route now: drained and stopped by a thread of their own, so that a scale out right after
        # (a burst just after a scale to zero) does not wait for their processes to exit (seconds on a busy
        # machine) behind this endpoint's step.
        t = threading.Thread(target=self._retire, args=(name, victims), name=f"endpoint-{name}-retire", daemon=True)
        self.workers.append(t)
        t.start()

    def _retire(self, name: str, victims: list[ReplicaHandle]) -> None:
        t0 = time.monotonic()
        try:
            self.runtime.drain(victims)
            self._stop(victims)
        except Exception:
            log.exception("Endpoint %s: stopping replicas failed", name)
        log.info("Endpoint %s: %d replica(s) drained and stopped in %.2f s", name, len(victims),
                 time.monotonic() - t0)

    def _spawn(self, endpoint: str, variant: str, model: str, options: dict[str, Any]) -> ReplicaHandle:
        t0 = time.monotonic()
        view, key = self.platform.registry.artifact(model)
        folder = self.runtime.model_dir(view.ref, key, view.sha256)  # held by the replica from here on
        t1 = time.monotonic()
        h = self.runtime.spawn(endpoint, variant, model, folder, options)
        self.spawned.add(h)
        log.info("Endpoint %s: model %s unpacked in %.3f s, replica %s started in %.3f s", endpoint, model,
                  t1 - t0, h.replica_id, time.monotonic() - t1)
        return h

    def _stop(self, handles: list[ReplicaHandle]) -> None:
        self.runtime.stop(handles)
        for h in handles:
            self.spawned.discard(h)

    def _publish(self, name: str, spec: dict[str, Any], placed: list[tuple[str, ReplicaHandle]]) -> None:
        for variant, h in placed:
            h.variant = variant
        variants = tuple(
            VariantRoute(v["name"], v["model"], float(v.get("weight", 1.0)),
                         tuple(h for vn, h in placed if vn == v["name"] and h.model == v["model"] and h.alive()))
            for v in spec.get("variants", [])
        )
        self.specs[name] = spec
        self.handles[name] = [h for _, h in placed]
        self.runtime.set_route(Route(name, variants, spec.get("scaling")))

    def _heal(self, st: EndpointState) -> None:
        name = st.name
        spec = self.specs.get(name)
        handles = self.handles.get(name, [])
        if spec is None:
            return
        dead = [h for h in handles if not h.alive()]
        for h in dead:
            log.warning("Endpoint %s: replica %s (pid %s) died: %s", name, h.replica_id, h.pid,
                        h.last_words() or f"exit status {h.proc.returncode}")
        placed = [(h.variant, h) for h in handles]
        self._publish(name, spec, placed)  # dead replicas leave the route at once
        if not self._serving(name):
            self.service.mark_recovering(name, f"{len(dead)} replica(s) died; starting new ones")
        fresh: list[tuple[str, ReplicaHandle]] = []
        try:
            for h in dead:
                fresh.append((h.variant, self._spawn(name, h.variant, h.model, h.options)))
            self.runtime.wait_ready([h for _, h in fresh])
        except Exception as exc:
            log.warning("Endpoint %s: replacing a dead replica failed: %s", name, exc)
            self._stop([h for _, h in fresh])
            return
        by_old = dict(zip(dead, fresh))
        placed = [by_old.get(h, (v, h)) for v, h in placed]
        self._publish(name, spec, placed)
        self._stop(dead)  # already gone: reaps them and lets go of their model copies
        self._record_replicas(name)
        if self._serving(name):
            self.service.mark_recovered(name)

    def _delete(self, st: EndpointState) -> None:
        name = st.name
        self.runtime.drop_route(name)
        handles = self.handles.pop(name, [])
        if handles:
            self.runtime.drain(handles, timeout=5.0)
            self._stop(handles)
        self.specs.pop(name, None)
        self.applied.pop(name, None)
        self.scaled.pop(name, None)
        self.service.finish_delete(name)

    def _forget(self, _st: None) -> None:
        for name in [n for n in self.handles if n not in {s.name for s in self.service.states()}]:
            self.runtime.drop_route(name)
            self._stop(self.handles.pop(name, []))
            self.specs.pop(name, None)
            self.applied.pop(name, None)

    def _record_replicas(self, name: str) -> None:
        rows = [
            {"replica_id": h.replica_id, "variant": h.variant, "model": h.model, "pid": h.pid, "port": h.port,
             "status": h.status if h.alive() else "Dead",
             "started_at": dt.datetime.fromtimestamp(h.started_at, dt.UTC), "proc_start": h.proc_start,
             "uds": h.uds, "artifact_dir": str(h.folder or ""), "options": h.options, "host": h.host}
            for h in self.handles.get(name, [])
        ]
        self.service.set_replicas(name, rows)


def _models(spec: dict[str, Any] | None) -> set[str]:
    return {v["model"] for v in (spec or {}).get("variants", [])}
