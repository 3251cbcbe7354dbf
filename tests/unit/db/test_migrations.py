"""Migrations produce exactly the models' schema; the audit trail refuses updates and deletes."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

import slipway.db.models  # noqa: F401
from slipway.db import Base, Database


def test_migrations_match_the_models(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.migrate()
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    db.dispose()
    assert diffs == []


def test_audit_events_are_append_only(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.migrate()
    with db.session() as s:
        s.execute(text("INSERT INTO audit_events (time, user, key_id, action, resource, method, path, source, "
                       "request_id, outcome, status, message) VALUES (CURRENT_TIMESTAMP, 'a', '', 'x:Y', '*', '', '',"
                       " '', '', 'allowed', 200, '')"))
    for stmt in ("UPDATE audit_events SET user = 'b'", "DELETE FROM audit_events"):
        with pytest.raises(DatabaseError, match="append-only"):
            with db.session() as s:
                s.execute(text(stmt))
    db.dispose()
