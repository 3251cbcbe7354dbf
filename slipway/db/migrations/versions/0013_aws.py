"""AWS protocols: the sealed secret of an AWS access key, and the S3 protocol's buckets, objects and uploads.

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from slipway.db.base import UTCDateTime

revision = "0013"
down_revision = "0008"
branch_labels = None
depends_on = "0002"  # alters api_keys


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("aws_secret", sa.LargeBinary(), nullable=True))
    op.create_table(
        "s3_buckets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_s3_buckets"),
        sa.UniqueConstraint("name", name="uq_s3_buckets_name"),
    )
    op.create_table(
        "s3_objects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("modified_at", UTCDateTime(), nullable=False),
        sa.Column("modified_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_s3_objects"),
        sa.UniqueConstraint("bucket", "key", name="uq_s3_objects_bucket_key"),
    )
    op.create_table(
        "s3_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upload_id", sa.String(64), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_s3_uploads"),
        sa.UniqueConstraint("upload_id", name="uq_s3_uploads_upload_id"),
    )
    op.create_table(
        "s3_upload_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upload_id", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_s3_upload_parts"),
        sa.UniqueConstraint("upload_id", "number", name="uq_s3_upload_parts_upload_id_number"),
    )


def downgrade() -> None:
    for table in ("s3_upload_parts", "s3_uploads", "s3_objects", "s3_buckets"):
        op.drop_table(table)
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("aws_secret")
