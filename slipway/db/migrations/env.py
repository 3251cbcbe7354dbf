"""Alembic environment: runs migrations on the connection Database.migrate() hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import slipway.db.models  # noqa: F401  (registers every table on the metadata)
from slipway.db.base import Base

config = context.config
connection = config.attributes.get("connection")


def _run(conn: object) -> None:
    context.configure(
        connection=conn,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # `alembic` command line, for writing new revisions
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)
