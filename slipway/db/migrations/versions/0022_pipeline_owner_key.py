"""Pipeline runs act with their owner's key: the API key that created the pipeline, started the run or added the
trigger, whose policy (narrower than the owner's role) limits what the run may do.

Revision ID: 0022
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0014"
branch_labels = None
depends_on = "0012"  # alters the pipelines tables

TABLES = ("pipelines", "pipeline_runs", "pipeline_triggers")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            # None: set up without a key (in-process, e.g. the demo workspace): the owner's role alone applies.
            batch.add_column(sa.Column("created_by_key", sa.String(32), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("created_by_key")
