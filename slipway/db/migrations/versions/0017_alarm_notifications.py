"""Alarm notifications: webhook deliveries of alarm state changes, sent by their own worker with retries.

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from slipway.db.base import UTCDateTime

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alarm_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alarm", sa.String(63), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("action_index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alarm_notifications"),
    )
    op.create_index("ix_alarm_notifications_status_next", "alarm_notifications", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_alarm_notifications_status_next", table_name="alarm_notifications")
    op.drop_table("alarm_notifications")
