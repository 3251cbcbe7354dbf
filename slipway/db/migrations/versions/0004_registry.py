"""Model registry (groups, versions, aliases, events) and endpoints (deployments, replicas).

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from slipway.db.base import UTCDateTime

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("version_counter", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_groups"),
        sa.UniqueConstraint("name", name="uq_model_groups_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("framework", sa.String(32), nullable=False),
        sa.Column("problem_type", sa.String(64), nullable=True),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("approval", sa.String(32), nullable=False),
        sa.Column("approval_reason", sa.Text(), nullable=False),
        sa.Column("approval_by", sa.String(128), nullable=False),
        sa.Column("approval_at", UTCDateTime(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("storage_key", sa.String(512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.ForeignKeyConstraint(["group_id"], ["model_groups.id"], ondelete="CASCADE",
                                name="fk_model_versions_group_id_model_groups"),
        sa.UniqueConstraint("group_id", "version", name="uq_model_versions_group_version"),
    )
    op.create_index("ix_model_versions_group_id", "model_versions", ["group_id"])
    op.create_table(
        "model_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_aliases"),
        sa.ForeignKeyConstraint(["group_id"], ["model_groups.id"], ondelete="CASCADE",
                                name="fk_model_aliases_group_id_model_groups"),
        sa.UniqueConstraint("group_id", "alias", name="uq_model_aliases_group_alias"),
    )
    op.create_index("ix_model_aliases_group_id", "model_aliases", ["group_id"])
    op.create_table(
        "model_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("alias", sa.String(63), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("from_value", sa.String(64), nullable=True),
        sa.Column("to_value", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_events"),
    )
    op.create_index("ix_model_events_model", "model_events", ["model"])
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("desired", sa.JSON(), nullable=False),
        sa.Column("live", sa.JSON(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_endpoints"),
        sa.UniqueConstraint("name", name="uq_endpoints_name"),
    )
    op.create_table(
        "endpoint_deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_endpoint_deployments"),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoints.id"], ondelete="CASCADE",
                                name="fk_endpoint_deployments_endpoint_id_endpoints"),
        sa.UniqueConstraint("endpoint_id", "number", name="uq_endpoint_deployments_endpoint_number"),
    )
    op.create_index("ix_endpoint_deployments_endpoint_id", "endpoint_deployments", ["endpoint_id"])
    op.create_table(
        "endpoint_replicas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("replica_id", sa.String(64), nullable=False),
        sa.Column("variant", sa.String(63), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_endpoint_replicas"),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoints.id"], ondelete="CASCADE",
                                name="fk_endpoint_replicas_endpoint_id_endpoints"),
        sa.UniqueConstraint("replica_id", name="uq_endpoint_replicas_replica_id"),
    )
    op.create_index("ix_endpoint_replicas_endpoint_id", "endpoint_replicas", ["endpoint_id"])


def downgrade() -> None:
    op.drop_table("endpoint_replicas")
    op.drop_table("endpoint_deployments")
    op.drop_table("endpoints")
    op.drop_table("model_events")
    op.drop_table("model_aliases")
    op.drop_table("model_versions")
    op.drop_table("model_groups")
