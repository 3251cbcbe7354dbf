"""Endpoints: desired state (variants of model versions) in the database, every deployment recorded.

Users change the desired state here; the endpoint controller makes it so and reports back through
``mark_*``. Models an endpoint serves or is about to serve are recorded as references, so they
cannot be deleted from the registry underneath it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from slipway.db import Database, utcnow
from slipway.db.models import Deployment, Endpoint, Reference, Replica
from slipway.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, Unavailable
from slipway.names import check_name
from slipway.schemas import DeploymentView, EndpointView, Page, ReplicaView, VariantSpec
from slipway.services.registry import RegistryService
from slipway.settings import Settings

__all__ = ["EndpointService", "EndpointState", "RecordedReplica"]


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


class EndpointService:
    def __init__(self, db: Database, registry: RegistryService, settings: Settings) -> None:
        self.db = db
        self.registry = registry
        self.settings = settings
        # Bumped after every change made through this service, so the controller in the same
        # process reacts at once without reading the database on every pass.
        self.changes = 0

    # -- desired state ---------------------------------------------------------------------------

    def _spec(self, variants: list[VariantSpec]) -> dict[str, Any]:
        if not variants:
            raise InvalidArgument("An endpoint needs at least one variant (a model version).", {"field": "variants"})
        names = [v.name for v in variants]
        for n in names:
            check_name(n, "variant")
        if len(set(names)) != len(names):
            raise InvalidArgument(f"Variant names must be unique; got {', '.join(names)}.", {"field": "variants"})
        if sum(v.weight for v in variants) <= 0:
            raise InvalidArgument("At least one variant needs a weight above 0.", {"field": "weight"})
        out = []
        for v in variants:
            resolved = self.registry.resolve(v.model)
            out.append({"name": v.name, "model": resolved, "requested": v.model, "weight": v.weight,
                        "replicas": v.replicas, "serving": v.serving.model_dump()})
        return {"variants": out}

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

    def create(self, name: str, variants: list[VariantSpec], user: str = "") -> EndpointView:
        check_name(name, "endpoint")
        spec = self._spec(variants)

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

    def update(self, name: str, variants: list[VariantSpec], user: str = "", kind: str = "update") -> EndpointView:
        check_name(name, "endpoint")
        spec = self._spec(variants)
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
        def _do(s: Session) -> EndpointView:
            ep = self._endpoint(s, name, lock=True)
            ep.status, ep.reason, ep.updated_at = "Deleting", f"deleted by {user or 'a user'}", utcnow()
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
                                  url=f"http://127.0.0.1:{r.port}/invocations", status=r.status,
                                  started_at=r.started_at) for r in replicas],
            deployments=[DeploymentView(number=d.number, kind=d.kind, status=d.status, reason=d.reason, spec=d.spec,
                                        created_at=d.created_at, created_by=d.created_by, finished_at=d.finished_at)
                         for d in sorted(ep.deployments, key=lambda d: d.number, reverse=True)],
            created_at=ep.created_at, created_by=ep.created_by, updated_at=ep.updated_at,
        )

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
                                    r.artifact_dir, r.options, r.started_at.timestamp()) for n, r in rows]

    def forget_replicas(self) -> None:
        self.db.run(lambda s: s.execute(delete(Replica)))

    def finish_delete(self, name: str) -> None:
        def _do(s: Session) -> None:
            ep = s.execute(select(Endpoint).where(Endpoint.name == name)).scalar_one_or_none()
            if ep is None or ep.status != "Deleting":
                return
            s.execute(delete(Reference).where(Reference.source_kind == "endpoint", Reference.source_id == name))
            s.delete(ep)

        self.db.run(_do)


def _models(spec: dict[str, Any]) -> str:
    return ", ".join(f"{v['name']}={v['model']}" for v in spec.get("variants", []))


def _key(spec: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted((v["name"], v["model"], v["weight"], v["replicas"]) for v in spec.get("variants", []))
