"""Invocation routes on a server that does not lead the endpoints controller, read from the database.

The leader starts replicas and records each (pid, port, Unix socket) in the ``replicas`` table; here
the routes are rebuilt from that table and each endpoint's live spec once a second, so every server
answers ``POST /endpoints/{name}/invocations``. The runtime says which recorded replicas this server
reaches (``ServingRuntime.observe``): local replicas listen on loopback, so a server reaches those on
its own machine; Ray replicas listen on their node's address, reached from every server.
"""

from __future__ import annotations

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
            if any(v.replicas for v in variants):
                routes[st.name] = Route(st.name, variants)
        self.runtime.routes = routes
