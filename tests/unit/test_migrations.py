"""Migrations must build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import slipway.db.models  # noqa: F401
from slipway.db import Base, Database


def test_migrations_match_models(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.migrate()
    db.migrate()  # idempotent
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"version_table": "slipway_alembic_version",
                        "include_name": lambda name, type_, parents: type_ != "table" or name in Base.metadata.tables}
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []
    db.dispose()
