"""The ``sagemaker_resources`` table: SageMaker-only records (requests, Models, EndpointConfigs, tags).

The SageMaker compatibility layer (``slipway/compat/sagemaker/``) keeps here what Slipway has no
counterpart for; it reaches this table only through this service (``Platform.sagemaker_resources``).
Errors are Slipway's (:class:`NotFound`, :class:`AlreadyExists`); compat turns them into AWS errors.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway.db import Database, utcnow
from slipway.db.models import SageMakerResource
from slipway.errors import AlreadyExists, NotFound

__all__ = ["SageMakerResourceService", "KINDS"]

# ARN resource type -> what SageMaker calls it in messages
KINDS = {
    "training-job": "Training job", "model": "Model", "endpoint-config": "Endpoint configuration",
    "endpoint": "Endpoint", "hyper-parameter-tuning-job": "Hyperparameter tuning job",
    "model-package-group": "Model package group", "model-package": "Model package",
    "transform-job": "Transform job",
}


def _record(row: SageMakerResource) -> dict[str, Any]:
    return {"kind": row.kind, "name": row.name, "target": row.target, "spec": dict(row.spec or {}),
            "tags": dict(row.tags or {}), "created_at": row.created_at, "updated_at": row.updated_at,
            "created_by": row.created_by}


def _missing(kind: str, name: str) -> NotFound:
    return NotFound(f"Could not find {KINDS.get(kind, kind).lower()} \"{name}\".", {"kind": kind, "name": name})


class SageMakerResourceService:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _row(s: Session, kind: str, name: str) -> SageMakerResource | None:
        return s.execute(select(SageMakerResource).where(SageMakerResource.kind == kind,
                                                         SageMakerResource.name == name)).scalar_one_or_none()

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            row = self._row(s, kind, name)
            return _record(row) if row else None

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = self.find(kind, name)
        if found is None:
            raise _missing(kind, name)
        return found

    def add(self, kind: str, name: str, target: str | None, spec: dict[str, Any], tags: dict[str, str],
            user: str = "") -> dict[str, Any]:
        def _do(s: Session) -> dict[str, Any]:
            row = SageMakerResource(kind=kind, name=name, target=target, spec=spec, tags=tags, created_by=user)
            s.add(row)
            s.flush()
            return _record(row)

        try:
            return self.db.run(_do)  # type: ignore[no-any-return]
        except IntegrityError:
            raise AlreadyExists(f"{KINDS.get(kind, kind)} \"{name}\" already exists.",
                                {"kind": kind, "name": name}) from None

    def update(self, kind: str, name: str, *, target: Any = ..., spec: dict[str, Any] | None = None,
               tags: dict[str, str] | None = None) -> None:
        def _do(s: Session) -> None:
            row = self._row(s, kind, name)
            if row is None:
                raise _missing(kind, name)
            if target is not ...:
                row.target = target
            if spec is not None:
                row.spec = spec
            if tags is not None:
                row.tags = tags
            row.updated_at = utcnow()

        self.db.run(_do)

    def ensure(self, kind: str, name: str, target: str | None) -> None:
        """A row for a resource made outside the SageMaker API (to hold its tags)."""
        if self.find(kind, name) is None:
            try:
                self.add(kind, name, target, {}, {})
            except AlreadyExists:  # made meanwhile
                pass

    def delete(self, kind: str, name: str) -> None:
        def _do(s: Session) -> None:
            row = self._row(s, kind, name)
            if row is not None:
                s.delete(row)

        self.db.run(_do)

    def list(self, kind: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.execute(select(SageMakerResource).where(SageMakerResource.kind == kind)
                             .order_by(SageMakerResource.id)).scalars()
            return [_record(r) for r in rows]
