"""Per-minute rollups of endpoint invocations, and each endpoint's request capture setting.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoint_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(63), nullable=False),
        sa.Column("variant", sa.String(63), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("status_2xx", sa.BigInteger(), nullable=False),
        sa.Column("status_4xx", sa.BigInteger(), nullable=False),
        sa.Column("status_5xx", sa.BigInteger(), nullable=False),
        sa.Column("latency_sum_ms", sa.Float(), nullable=False),
        sa.Column("latency_max_ms", sa.Float(), nullable=False),
        sa.Column("buckets", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_endpoint_metrics"),
        sa.UniqueConstraint("endpoint", "variant", "minute", name="uq_endpoint_metrics_endpoint_variant_minute"),
    )
    op.create_index("ix_endpoint_metrics_minute", "endpoint_metrics", ["minute"])
    op.create_table(
        "endpoint_capture",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(63), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_endpoint_capture"),
        sa.UniqueConstraint("endpoint", name="uq_endpoint_capture_endpoint"),
    )


def downgrade() -> None:
    op.drop_table("endpoint_capture")
    op.drop_index("ix_endpoint_metrics_minute", table_name="endpoint_metrics")
    op.drop_table("endpoint_metrics")
