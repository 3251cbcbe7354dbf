"""Migrations produce exactly the models' schema; the audit trail refuses updates and deletes.

Both run on SQLite and on a real Postgres server (the ``database_url`` fixture).
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, update
from sqlalchemy.exc import DatabaseError

import slipway.db.models  # noqa: F401
from slipway.db import Base, Database
from slipway.db.models import AuditEvent


def test_migrations_match_the_models(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    with db.engine.connect() as conn:
        opts = {"compare_type": True, "version_table": "slipway_alembic_version",
                # Optuna keeps its tuning tables in the same database
                "include_name": lambda name, type_, parents: type_ != "table" or name in Base.metadata.tables}
        diffs = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    db.dispose()
    assert diffs == []


def test_audit_events_are_append_only(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    with db.session() as s:
        s.add(AuditEvent(user="a", key_id="", action="x:Y", resource="*", method="", path="", source="",
                         request_id="", outcome="allowed", status=200, message=""))
    for stmt in (update(AuditEvent).values(user="b"), delete(AuditEvent)):
        with pytest.raises(DatabaseError, match="append-only"):
            with db.session() as s:
                s.execute(stmt)
    with db.session() as s:
        assert [e.user for e in s.query(AuditEvent)] == ["a"]
    db.dispose()
