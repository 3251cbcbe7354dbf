"""Processing jobs (a job's output channels); pipelines: definitions, runs, steps, schedules, triggers; events.

Revision ID: 0012
Revises: 0008 (and needs 0007: the jobs table with its secrets)
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from slipway.db.base import UTCDateTime

revision = "0012"
down_revision = "0008"
branch_labels = None
depends_on = ("0007",)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("outputs", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("arguments", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "pipelines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipelines"),
        sa.UniqueConstraint("name", name="uq_pipelines_name"),
    )
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("pipeline_version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_by", sa.String(255), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(["pipeline_id"], ["pipelines.id"], name="fk_pipeline_runs_pipeline_id_pipelines",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_runs"),
        sa.UniqueConstraint("pipeline_id", "number", name="uq_pipeline_runs_pipeline_id"),
    )
    op.create_index("ix_pipeline_runs_status", "pipeline_runs", ["status"])
    op.create_table(
        "pipeline_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("job_name", sa.String(63), nullable=True),
        sa.Column("cache_key", sa.String(64), nullable=True),
        sa.Column("cached_from", sa.String(128), nullable=True),
        sa.Column("arguments", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["pipeline_runs.id"], name="fk_pipeline_steps_run_id_pipeline_runs",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_steps"),
        sa.UniqueConstraint("run_id", "name", name="uq_pipeline_steps_run_id"),
    )
    op.create_index("ix_pipeline_steps_cache_key", "pipeline_steps", ["cache_key"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_kind", "events", ["kind", "subject"])
    op.create_table(
        "pipeline_triggers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("event_kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(["pipeline_id"], ["pipelines.id"], name="fk_pipeline_triggers_pipeline_id_pipelines",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_triggers"),
        sa.UniqueConstraint("pipeline_id", "event_kind", "subject", name="uq_pipeline_triggers_pipeline_id"),
    )
    op.create_table(
        "pipeline_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("cron", sa.String(128), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=False),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(["pipeline_id"], ["pipelines.id"], name="fk_pipeline_schedules_pipeline_id_pipelines",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_schedules"),
        sa.UniqueConstraint("pipeline_id", name="uq_pipeline_schedules_pipeline_id"),
    )


def downgrade() -> None:
    op.drop_table("pipeline_schedules")
    op.drop_table("pipeline_triggers")
    op.drop_table("events")
    op.drop_table("pipeline_steps")
    op.drop_table("pipeline_runs")
    op.drop_table("pipelines")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("arguments")
        batch.drop_column("outputs")
