"""Asynchronous invocations of endpoints (a durable queue), and batch transform jobs.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from slipway.db.base import UTCDateTime

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "async_invocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invocation_id", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(63), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("accept", sa.String(255), nullable=False),
        sa.Column("input_key", sa.Text(), nullable=False),
        sa.Column("input_bytes", sa.Integer(), nullable=False),
        sa.Column("output_key", sa.Text(), nullable=True),
        sa.Column("output_content_type", sa.String(255), nullable=True),
        sa.Column("variant", sa.String(63), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("retry_at", UTCDateTime(), nullable=True),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("callback_status", sa.String(16), nullable=True),
        sa.Column("callback_attempts", sa.Integer(), nullable=False),
        sa.Column("callback_error", sa.Text(), nullable=False),
        sa.Column("callback_next_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_async_invocations"),
        sa.UniqueConstraint("invocation_id", name="uq_async_invocations_invocation_id"),
    )
    op.create_index("ix_async_invocations_endpoint_status", "async_invocations", ["endpoint", "status"])
    op.create_index("ix_async_invocations_status_id", "async_invocations", ["status", "id"])

    op.create_table(
        "transform_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("data", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(63), nullable=False),
        sa.Column("output", sa.String(63), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=False),
        sa.Column("failed_rows", sa.JSON(), nullable=True),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("batches_total", sa.Integer(), nullable=False),
        sa.Column("batches_done", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("output_version", sa.String(255), nullable=True),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_transform_jobs"),
        sa.UniqueConstraint("name", name="uq_transform_jobs_name"),
    )


def downgrade() -> None:
    op.drop_table("transform_jobs")
    op.drop_index("ix_async_invocations_status_id", table_name="async_invocations")
    op.drop_index("ix_async_invocations_endpoint_status", table_name="async_invocations")
    op.drop_table("async_invocations")
