"""Tuning jobs.

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from slipway.db.base import UTCDateTime

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tuning_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("objective", sa.String(255), nullable=False),
        sa.Column("maximize", sa.Boolean(), nullable=False),
        sa.Column("space", sa.JSON(), nullable=False),
        sa.Column("max_trials", sa.Integer(), nullable=False),
        sa.Column("max_parallel", sa.Integer(), nullable=False),
        sa.Column("max_runtime", sa.Integer(), nullable=True),
        sa.Column("early_stopping", sa.String(16), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("warm_start_from", sa.String(63), nullable=True),
        sa.Column("template", sa.JSON(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("best_trial", sa.JSON(), nullable=True),
        sa.Column("best_objective", sa.Float(), nullable=True),
        sa.Column("counters", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tuning_jobs"),
        sa.UniqueConstraint("name", name="uq_tuning_jobs_name"),
    )
    op.create_index("ix_tuning_jobs_status", "tuning_jobs", ["status"])


def downgrade() -> None:
    op.drop_table("tuning_jobs")
