"""Replicas outlive the server: what a restarted server needs to find and adopt them.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("endpoint_replicas") as batch:
        # Process start time (clock ticks after boot, /proc/PID/stat field 22): a pid reused by another
        # process after the replica died does not match it.
        batch.add_column(sa.Column("proc_start", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("uds", sa.Text(), nullable=True))
        batch.add_column(sa.Column("artifact_dir", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("endpoint_replicas") as batch:
        batch.drop_column("options")
        batch.drop_column("artifact_dir")
        batch.drop_column("uds")
        batch.drop_column("proc_start")
