"""The autoscaler's decisions and measured cold starts per endpoint.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from slipway.db.base import UTCDateTime

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoint_scaling_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("desired", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_endpoint_scaling_events"),
    )
    op.create_index("ix_endpoint_scaling_events_endpoint_id", "endpoint_scaling_events", ["endpoint", "id"])


def downgrade() -> None:
    op.drop_index("ix_endpoint_scaling_events_endpoint_id", table_name="endpoint_scaling_events")
    op.drop_table("endpoint_scaling_events")
