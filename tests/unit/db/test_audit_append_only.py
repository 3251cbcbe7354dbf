"""The audit trail refuses updates and deletes at the database level."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from slipway.db import Database


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
