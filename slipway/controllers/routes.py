"""Invocation routes on a server that does not lead the endpoints controller, read from the database.

The leader starts replicas and records each (pid, port, Unix socket) in the ``replicas`` table; here
the routes are rebuilt from that table and each endpoint's live spec once a second, so every server
answers ``POST /endpoints/{name}/invocations``. The runtime says which recorded replicas this server
reaches (``ServingRuntime.observe``): local replicas listen on loopback, so a server reaches those on
its own machine; Ray replicas listen on their node's address, reached from every server.

An autoscaled endpoint keeps its route here even with no replica (scaled to zero): the gateway queues its
requests, this controller reports them each pass (``EndpointService.report_demand``: queued and in flight here,
transform jobs' requests included) so that the leader's autoscaler starts a replica, and the requests go to it
as soon as the replicas table lists it.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from slipway.controllers.base import Controller
from slipway.serving.runtime import ReplicaHandle, Route, VariantRoute

if TYPE_CHECKING:
    from slipway.controllers.endpoints import EndpointController
    from slipway.services import Platform

__all__ = ["RouteMirror"]


class RouteMirror(Controller):
    name = "endpoint-routes"
    interval = 1.0
    singleton = False  # every server that does not lead the endpoints runs its own

    def __init__(self, platform: Platform, endpoints: EndpointController) -> None:
        self.platform = platform
        self.endpoints = endpoints
        self.runtime = platform.serving
        self._handles: dict[str, ReplicaHandle] = {}
        self.server = f"{socket.gethostname()}:{os.getpid()}"
        self._reported: dict[str, tuple[int, int]] = {}

    def reconcile(self) -> None:
        if self.endpoints.leading:  # the leader's own routes are the truth; leave them alone
            self._handles = {}
            return
        service = self.platform.endpoints
        handles: dict[str, ReplicaHandle] = {}
        for r in service.recorded_replicas():
            h = self.runtime.observe(r, self._handles.get(r.replica_id))
            if h is None:
                continue  # gone, or not reachable from this server
            h.suspect = False  # one unreachable moment must not exclude it for good: try again each pass
            handles[r.replica_id] = h
        self._handles = handles
        routes: dict[str, Route] = {}
        for st in service.states():
            spec = st.live
            if not spec or st.status == "Deleting":
                continue
            mine = [h for h in handles.values() if h.endpoint == st.name]
            variants = tuple(
                VariantRoute(v["name"], v["model"], float(v.get("weight", 1.0)),
                             tuple(h for h in mine if h.variant == v["name"] and h.model == v["model"]))
                for v in spec.get("variants", []))
            if any(v.replicas for v in variants) or spec.get("scaling"):
                routes[st.name] = Route(st.name, variants, spec.get("scaling"))
        before = self.runtime.routes
        self.runtime.routes = routes
        self.runtime.routes_changed([n for n in set(before) | set(routes) if
                                     _replicas(before.get(n)) != _replicas(routes.get(n))])
        self._report(routes)

    def _report(self, routes: dict[str, Route]) -> None:
        """This server's demand on each autoscaled endpoint, for the leader's autoscaler (when it changed)."""
        gateway = self.runtime.gateway
        for name in set(self._reported) | {n for n, r in routes.items() if r.scaling}:
            load = gateway.loads.get(name)
            jobs = self.platform.transforms.endpoint_load(name)
            now = ((load.queued if load else 0) + jobs, load.in_flight if load else 0)
            if now != self._reported.get(name, (0, 0)) or any(now):
                self.platform.endpoints.report_demand(name, self.server, *now)
            if any(now):
                self._reported[name] = now
            else:
                self._reported.pop(name, None)


def _replicas(route: Route | None) -> frozenset[str]:
    return frozenset(h.replica_id for h in route.handles()) if route is not None else frozenset()
