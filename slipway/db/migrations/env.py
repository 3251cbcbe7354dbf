"""Alembic environment: runs migrations on the connection Database.migrate() hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import slipway.db.models  # noqa: F401  (registers every table on the metadata)
from slipway.db.base import Base

VERSION_TABLE = "slipway_alembic_version"
config = context.config


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate compares only Slipway's tables, not Optuna's."""
    return type_ != "table" or name in Base.metadata.tables
connection = config.attributes.get("connection")


def _run(conn: object) -> None:
    context.configure(
        connection=conn,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
        # Our own name: Optuna keeps its tuning tables (and its default `alembic_version`)
        # in the same database.
        version_table=VERSION_TABLE,
        include_name=_ours,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # `alembic` command line, for writing new revisions
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)
