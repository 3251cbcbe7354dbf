"""Replicas on other machines (Ray): the node address a replica listens on, so every server reaches it.

Revision ID: 0021
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("endpoint_replicas") as batch:
        # None: a process on the server's machine (loopback, found through /proc); else its node's address.
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("endpoint_replicas") as batch:
        batch.drop_column("host")
