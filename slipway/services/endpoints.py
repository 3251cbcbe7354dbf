"""Endpoints: desired state (variants of model versions) in the database, every deployment recorded.

Users change the desired state here; the endpoint controller makes it so and reports back through
``mark_*``. Models an endpoint serves or is about to serve are recorded as references, so they
cannot be deleted from the registry underneath it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from slipway.db import Database, utcnow
from slipway.db.models import Deployment, Endpoint, Reference, Replica, ScalingEvent
from slipway.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, Unavailable
from slipway.names import check_name
from slipway.schemas import (
    DeploymentView,
    EndpointView,
    Page,
    ReplicaView,
    ScalingDecisionView,
    ScalingSpec,
    ScalingView,
    ServingOptions,
    VariantSpec,
)
from slipway.services.registry import RegistryService
from slipway.settings import Settings

__all__ = ["EndpointService", "EndpointState", "RecordedReplica", "SCALING_EVENTS_KEPT"]

SCALING_EVENTS_KEPT = 200  # newest scaling decisions and cold starts kept per endpoint


@dataclass(frozen=True)
class EndpointState:
    """What the controller needs of one endpoint row."""

    name: str
    status: str
    generation: int
    desired: dict[str, Any]
    live: dict[str, Any] | None


@dataclass(frozen=True)
class RecordedReplica:
    """A replica as the controller last recorded it: what a restarted server needs to adopt it."""

    endpoint: str
    replica_id: str
    variant: str
    model: str
    pid: int
    proc_start: int
    port: int
    uds: str | None
    artifact_dir: str
    options: dict[str, Any] | None
    started_at: float
    host: str | None = None  # the node a replica on another machine (Ray) listens on; None: this machine


class EndpointService:
    def __init__(self, db: Database, registry: RegistryService, settings: Settings) -> None:
        self.db = db
        self.registry = registry
        self.settings = settings
        # Bumped after every change made through this service, so the controller in the same
        # process reacts at once without reading the database on every pass.
        self.changes = 0
        # This server's live queue and load of an endpoint (set by the autoscaler; the gateway holds them).
        self.load_probe: Callable[[str], dict[str, int]] | None = None

    # -- desired state ---------------------------------------------------------------------------

    def _spec(self, variants: list[VariantSpec], scaling: ScalingSpec | None = None) -> dict[str, Any]:
        if not variants:
            raise InvalidArgument("An endpoint needs at least one variant (a model version).", {"field": "variants"})
        names = [v.name for v in variants]
        for n in names:
            check_name(n, "variant")
        if len(set(names)) != len(names):
            raise InvalidArgument(f"Variant names must be unique; got {', '.join(names)}.", {"field": "variants"})
        if sum(v.weight for v in variants) <= 0:
            raise InvalidArgument("At least one variant needs a weight above 0.", {"field": "weight"})
        scaled = self._scaling(scaling, variants) if scaling is not None else None
        out = []
        for v in variants:
            resolved = self.registry.resolve(v.model)
            out.append({"name": v.name, "model": resolved, "requested": v.model, "weight": v.weight,
                        "replicas": v.replicas, "serving": v.serving.model_dump()})
        spec: dict[str, Any] = {"variants": out}
        if scaled is not None:
            spec["scaling"] = scaled
        return spec

    @staticmethod
    def _scaling(scaling: ScalingSpec, variants: list[VariantSpec]) -> dict[str, Any]:
        """Rules across the fields of ``scaling`` (one field each is checked by its schema)."""
        given = scaling.model_fields_set
        if scaling.serverless:
            if "min_replicas" in given and scaling.min_replicas > 0:
                raise InvalidArgument(
                    f"A serverless endpoint scales to zero: min_replicas must be 0 (or left out), got "
                    f"{scaling.min_replicas}.", {"field": "min_replicas", "value": scaling.min_replicas,
                                                 "expected": 0})
            scaling = scaling.model_copy(update={"min_replicas": 0})
        if scaling.min_replicas > scaling.max_replicas:
            raise InvalidArgument(
                f"min_replicas {scaling.min_replicas} is above max_replicas {scaling.max_replicas}; expected "
                "min_replicas <= max_replicas.",
                {"field": "min_replicas", "value": scaling.min_replicas, "max_replicas": scaling.max_replicas})
        if len(variants) != 1:
            raise InvalidArgument(
                f"Autoscaling works on an endpoint with one variant; this one has {len(variants)} "
                f"({', '.join(v.name for v in variants)}). Split traffic with fixed replica counts instead.",
                {"field": "scaling", "variants": [v.name for v in variants]})
        return scaling.model_dump()

    def _endpoint(self, s: Session, name: str, lock: bool = False) -> Endpoint:
        q = select(Endpoint).where(Endpoint.name == name)
        ep = s.execute(q.with_for_update() if lock else q).scalar_one_or_none()
        if ep is None:
            raise NotFound(
                f"Endpoint {name!r} not found. Deploy it first: slipway endpoints deploy {name} --model MODEL:N",
                {"field": "name", "value": name},
            )
        return ep

    def _set_references(self, s: Session, ep: Endpoint) -> None:
        s.execute(delete(Reference).where(Reference.source_kind == "endpoint", Reference.source_id == ep.name))
        used: dict[str, str] = {}
        for spec in (ep.live or {}, ep.desired or {}):
            for v in spec.get("variants", []):
                used[v["model"]] = v["name"]
        for model, variant in sorted(used.items()):
            s.add(Reference(source_kind="endpoint", source_id=ep.name, target_kind="model_version",
                            target_id=model, role=variant))

    def _record(self, s: Session, ep: Endpoint, kind: str, user: str) -> None:
        for d in ep.deployments:
            if d.status == "InProgress":
                d.status, d.finished_at, d.reason = "Superseded", utcnow(), "a newer change replaced it"
        number = max((d.number for d in ep.deployments), default=0) + 1
        ep.deployments.append(Deployment(number=number, generation=ep.generation, kind=kind, spec=ep.desired,
                                         status="InProgress", created_by=user))

    def create(self, name: str, variants: list[VariantSpec], user: str = "",
               scaling: ScalingSpec | None = None) -> EndpointView:
        check_name(name, "endpoint")
        spec = self._spec(variants, scaling)

        def _do(s: Session) -> EndpointView:
            if s.execute(select(Endpoint.id).where(Endpoint.name == name)).first() is not None:
                raise AlreadyExists(
                    f"Endpoint {name!r} already exists. Change it with: slipway endpoints update {name} --model ...",
                    {"field": "name", "value": name},
                )
            ep = Endpoint(name=name, status="Creating", desired=spec, live=None, generation=1, created_by=user)
            s.add(ep)
            s.flush()
            self._record(s, ep, "create", user)
            self._set_references(s, ep)
            s.flush()
            return self._view(s, ep)

        return self._changed(self.db.run(_do))

    def update(self, name: str, variants: list[VariantSpec] | None, user: str = "", kind: str = "update",
               scaling: ScalingSpec | None = None, fixed: bool = False) -> EndpointView:
        """New variants, new scaling (``fixed``: autoscaling off), or both; what is left out stays."""
        check_name(name, "endpoint")
        if variants is None and scaling is None and not fixed:
            raise InvalidArgument("Nothing to change: give variants (a model), scaling settings, or fixed.",
                                  {"field": "variants"})
        if fixed and scaling is not None:
            raise InvalidArgument("Give scaling settings or fixed (autoscaling off), not both.", {"field": "fixed"})
        if variants is None or (scaling is None and not fixed):
            with self.db.session() as s:
                desired = dict(self._endpoint(s, name).desired or {})
            if variants is None:
                variants = [VariantSpec(name=v["name"], model=v["model"], weight=v["weight"], replicas=v["replicas"],
                                        serving=ServingOptions.model_validate(v.get("serving") or {}))
                            for v in desired.get("variants", [])]
            if scaling is None and not fixed and desired.get("scaling"):
                scaling = ScalingSpec.model_validate(desired["scaling"])
        spec = self._spec(variants, scaling)
        return self._changed(self.db.run(lambda s: self._change(s, name, spec, user, kind)))

    def _change(self, s: Session, name: str, spec: dict[str, Any], user: str, kind: str) -> EndpointView:
        ep = self._endpoint(s, name, lock=True)
        if ep.status == "Deleting":
            raise Conflict(f"Endpoint {name!r} is being deleted.", {"field": "name", "value": name})
        ep.desired = spec
        ep.generation += 1
        ep.status = "Updating" if ep.live else "Creating"
        ep.reason = ""
        ep.updated_at = utcnow()
        self._record(s, ep, kind, user)
        self._set_references(s, ep)
        s.flush()
        return self._view(s, ep)

    def rollback(self, name: str, user: str = "") -> EndpointView:
        """Go back to what served before the live configuration (the previous successful deployment)."""

        def _do(s: Session) -> EndpointView:
            ep = self._endpoint(s, name, lock=True)
            done = [d for d in ep.deployments if d.status == "Succeeded"]
            live = ep.live or {}
            earlier = [d for d in done if _key(d.spec) != _key(live)]
            if not done or not earlier:
                raise Conflict(
                    f"Endpoint {name!r} has no earlier successful deployment to roll back to.",
                    {"field": "name", "value": name},
                )
            return self._change(s, name, earlier[-1].spec, user, "rollback")

        return self._changed(self.db.run(_do))

    def delete(self, name: str, user: str = "") -> EndpointView:
        from slipway.services.monitors import delete_endpoint_monitors

        def _do(s: Session) -> EndpointView:
            ep = self._endpoint(s, name, lock=True)
            ep.status, ep.reason, ep.updated_at = "Deleting", f"deleted by {user or 'a user'}", utcnow()
            monitors = delete_endpoint_monitors(s, name)  # a drift monitor lives and dies with its endpoint
            if monitors:
                ep.reason += f"; its monitors deleted: {', '.join(monitors)}"
            ep.generation += 1
            for d in ep.deployments:
                if d.status == "InProgress":
                    d.status, d.finished_at, d.reason = "Superseded", utcnow(), "endpoint deleted"
            s.flush()
            return self._view(s, ep)

        return self._changed(self.db.run(_do))

    def _changed(self, view: EndpointView) -> EndpointView:
        self.changes += 1
        return view

    # -- reading -------------------------------------------------------------------------------

    def url(self, name: str) -> str:
        return f"{self.settings.url}/endpoints/{name}/invocations"

    def _view(self, s: Session, ep: Endpoint) -> EndpointView:
        replicas = s.execute(select(Replica).where(Replica.endpoint_id == ep.id).order_by(Replica.variant,
                                                                                          Replica.started_at)).scalars()
        return EndpointView(
            name=ep.name, status=ep.status, reason=ep.reason, url=self.url(ep.name), desired=ep.desired,
            live=ep.live,
            replicas=[ReplicaView(replica_id=r.replica_id, variant=r.variant, model=r.model, pid=r.pid, port=r.port,
                                  url=f"http://{r.host or '127.0.0.1'}:{r.port}/invocations", status=r.status,
                                  started_at=r.started_at) for r in replicas],
            deployments=[DeploymentView(number=d.number, kind=d.kind, status=d.status, reason=d.reason, spec=d.spec,
                                        created_at=d.created_at, created_by=d.created_by, finished_at=d.finished_at)
                         for d in sorted(ep.deployments, key=lambda d: d.number, reverse=True)],
            created_at=ep.created_at, created_by=ep.created_by, updated_at=ep.updated_at,
            scaling=self._scaling_view(s, ep),
            warnings=self._warnings(s, ep),
        )

    # -- autoscaling -------------------------------------------------------------------------------

    def _scaling_view(self, s: Session, ep: Endpoint) -> ScalingView | None:
        spec = (ep.desired or {}).get("scaling")
        if not spec:
            return None
        rows = s.execute(select(ScalingEvent).where(ScalingEvent.endpoint == ep.name, ScalingEvent.kind == "decision")
                         .order_by(ScalingEvent.id.desc()).limit(10)).scalars().all()
        replicas = s.scalar(select(func.count(Replica.id)).where(Replica.endpoint_id == ep.id,
                                                                 Replica.status == "Ready")) or 0
        live = self.load_probe(ep.name) if self.load_probe is not None else {}
        return ScalingView(
            settings=ScalingSpec.model_validate(spec), replicas=replicas,
            desired=rows[0].desired if rows else replicas,
            queue_depth=live.get("queued", 0), in_flight=live.get("in_flight", 0),
            queue_overflows=live.get("overflows", 0), queue_timeouts=live.get("timeouts", 0),
            cold_start_seconds=self._cold_start(s, ep),
            decisions=[ScalingDecisionView(at=r.at, replicas=r.replicas, desired=r.desired, reason=r.reason,
                                           inputs=r.inputs) for r in rows])

    @staticmethod
    def _cold_start(s: Session, ep: Endpoint) -> float | None:
        """The last measured cold start of a replica of the model this endpoint serves (on any endpoint)."""
        models = [v["model"] for v in (ep.desired or {}).get("variants", [])]
        return s.scalar(select(ScalingEvent.seconds).where(ScalingEvent.kind == "cold_start",
                                                           ScalingEvent.model.in_(models))
                        .order_by(ScalingEvent.id.desc()).limit(1))

    def _warnings(self, s: Session, ep: Endpoint) -> list[str]:
        spec = (ep.desired or {}).get("scaling")
        if not spec or spec.get("min_replicas", 1) > 0:
            return []
        cold = self._cold_start(s, ep)
        if cold is None or cold <= spec["queue_timeout"]:
            return []
        return [f"queue_timeout {spec['queue_timeout']:g} s is shorter than the measured cold start of "
                f"{_models(ep.desired)} ({cold:.1f} s): requests that arrive at zero replicas will get 503 "
                f"before a replica is up. Raise it: slipway endpoints update {ep.name} --queue-timeout "
                f"{max(2, int(cold * 2) + 1)}"]

    def record_scaling(self, name: str, replicas: int, desired: int, reason: str, inputs: dict[str, Any]) -> None:
        """The autoscaler decided (or held back) a count: keep it with its inputs (the newest few hundred)."""
        self._event(ScalingEvent(endpoint=name, kind="decision", replicas=replicas, desired=desired, reason=reason,
                                 inputs=inputs))

    def record_cold_start(self, name: str, model: str, seconds: float) -> None:
        """A replica of ``model`` answered /ping ``seconds`` after it was started."""
        self._event(ScalingEvent(endpoint=name, kind="cold_start", model=model, seconds=round(seconds, 3),
                                 reason=f"replica of {model} ready in {seconds:.2f} s"))

    def _event(self, row: ScalingEvent) -> None:
        def _do(s: Session) -> None:
            s.add(row)
            s.flush()
            edge = s.scalar(select(ScalingEvent.id).where(ScalingEvent.endpoint == row.endpoint)
                            .order_by(ScalingEvent.id.desc()).offset(SCALING_EVENTS_KEPT).limit(1))
            if edge is not None:
                s.execute(delete(ScalingEvent).where(ScalingEvent.endpoint == row.endpoint, ScalingEvent.id <= edge))

        self.db.run(_do)

    def scaling_events(self, name: str) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count(ScalingEvent.id)).where(ScalingEvent.endpoint == name)) or 0

    def get(self, name: str) -> EndpointView:
        check_name(name, "endpoint")
        with self.db.session() as s:
            return self._view(s, self._endpoint(s, name))

    def list(self, limit: int = 50, offset: int = 0) -> Page[EndpointView]:
        with self.db.session() as s:
            total = s.scalar(select(func.count(Endpoint.id))) or 0
            rows = s.execute(select(Endpoint).order_by(Endpoint.name).limit(limit).offset(offset)).scalars().all()
            items = [self._view(s, ep) for ep in rows]
        nxt = str(offset + limit) if offset + limit < total else None
        return Page[EndpointView](items=items, total=total, next_page_token=nxt)

    def count(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count(Endpoint.id))) or 0

    def explain_unrouted(self, name: str) -> None:
        """Raise the error for invoking ``name`` when it has no route: 404, or 503 while it starts."""
        check_name(name, "endpoint")
        with self.db.session() as s:
            ep = self._endpoint(s, name)
            status, reason = ep.status, ep.reason
        if status == "Failed":
            raise Unavailable(f"Endpoint {name!r} is Failed: {reason}. Fix it with: slipway endpoints update "
                              f"{name} --model MODEL:N", {"endpoint": name, "status": status})
        if status == "Deleting":
            raise NotFound(f"Endpoint {name!r} is being deleted.", {"endpoint": name})
        raise Unavailable(
            f"Endpoint {name!r} is {status}: its replicas are starting. Retry in a second.",
            {"endpoint": name, "status": status, "retry_after": 1},
        )

    # -- reported by the controller --------------------------------------------------------------

    def states(self) -> list[EndpointState]:
        with self.db.session() as s:
            return [EndpointState(e.name, e.status, e.generation, e.desired, e.live)
                    for e in s.execute(select(Endpoint).order_by(Endpoint.id)).scalars()]

    def mark_succeeded(self, name: str, generation: int, spec: dict[str, Any]) -> None:
        def _do(s: Session) -> None:
            ep = s.execute(select(Endpoint).where(Endpoint.name == name)).scalar_one_or_none()
            if ep is None:
                return
            ep.live = spec
            if ep.generation == generation and ep.status != "Deleting":
                ep.status, ep.reason = "InService", ""
            ep.updated_at = utcnow()
            for d in ep.deployments:
                if d.generation == generation and d.status == "InProgress":
                    d.status, d.finished_at = "Succeeded", utcnow()
            self._set_references(s, ep)

        self.db.run(_do)

    def mark_failed(self, name: str, generation: int, reason: str, serving: bool = True) -> None:
        """A deployment failed: back to the live configuration when there is one (automatic rollback).

        ``serving``: whether a healthy replica still serves; without one the endpoint is Failed either way.
        """

        def _do(s: Session) -> None:
            ep = s.execute(select(Endpoint).where(Endpoint.name == name)).scalar_one_or_none()
            if ep is None:
                return
            target = ep.desired
            for d in ep.deployments:
                if d.generation == generation and d.status == "InProgress":
                    d.status, d.finished_at, d.reason, target = "Failed", utcnow(), reason, d.spec
            if ep.generation == generation and ep.status != "Deleting":
                if ep.live and serving:
                    ep.desired = ep.live
                    ep.status = "InService"
                    ep.reason = (f"update to {_models(target)} failed; still serving {_models(ep.live)} "
                                 f"(rolled back): {reason}")
                else:
                    if ep.live:
                        ep.desired = ep.live
                    ep.status, ep.reason = "Failed", reason
            ep.updated_at = utcnow()
            self._set_references(s, ep)

        self.db.run(_do)

    def mark_recovering(self, name: str, reason: str) -> None:
        """No healthy replica serves an InService endpoint (they died, or a restart found none): say so."""

        def _do(s: Session) -> None:
            ep = s.execute(select(Endpoint).where(Endpoint.name == name)).scalar_one_or_none()
            if ep is not None and ep.status == "InService":
                ep.status, ep.reason, ep.updated_at = "Recovering", reason, utcnow()

        self.db.run(_do)
        self.changes += 1

    def mark_recovered(self, name: str) -> None:
        """A healthy replica serves a Recovering endpoint again."""

        def _do(s: Session) -> None:
            ep = s.execute(select(Endpoint).where(Endpoint.name == name)).scalar_one_or_none()
            if ep is not None and ep.status == "Recovering":
                ep.status, ep.reason, ep.updated_at = "InService", "", utcnow()

        self.db.run(_do)

    def set_replicas(self, name: str, replicas: list[dict[str, Any]]) -> None:
        def _do(s: Session) -> None:
            ep = s.execute(select(Endpoint).where(Endpoint.name == name)).scalar_one_or_none()
            if ep is None:
                return
            s.execute(delete(Replica).where(Replica.endpoint_id == ep.id))
            for r in replicas:
                s.add(Replica(endpoint_id=ep.id, **r))

        self.db.run(_do)

    def recorded_replicas(self) -> list[RecordedReplica]:
        """Every replica the database remembers: a restarted server adopts or stops them."""
        with self.db.session() as s:
            rows = s.execute(select(Endpoint.name, Replica).join(Replica.endpoint).order_by(Replica.id)).all()
            return [RecordedReplica(n, r.replica_id, r.variant, r.model, r.pid, r.proc_start, r.port, r.uds,
                                    r.artifact_dir, r.options, r.started_at.timestamp(), r.host) for n, r in rows]

    def forget_replicas(self) -> None:
        self.db.run(lambda s: s.execute(delete(Replica)))

    def finish_delete(self, name: str) -> None:
        def _do(s: Session) -> None:
            ep = s.execute(select(Endpoint).where(Endpoint.name == name)).scalar_one_or_none()
            if ep is None or ep.status != "Deleting":
                return
            s.execute(delete(Reference).where(Reference.source_kind == "endpoint", Reference.source_id == name))
            s.execute(delete(ScalingEvent).where(ScalingEvent.endpoint == name))
            s.delete(ep)

        self.db.run(_do)


def _models(spec: dict[str, Any]) -> str:
    return ", ".join(f"{v['name']}={v['model']}" for v in spec.get("variants", []))


def _key(spec: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted((v["name"], v["model"], v["weight"], v["replicas"]) for v in spec.get("variants", []))
