"""Per-job resources: the CPUs and GPUs a job asks of the executor's scheduler (Ray).

Revision ID: 0024
Revises: 0014 (depends on 0003)
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0014"
branch_labels = None
depends_on = "0003"  # the jobs table (down_revision 0014 is on another branch)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        # None: the default request (1 CPU, no GPU).
        batch.add_column(sa.Column("cpus", sa.Float(), nullable=True))
        batch.add_column(sa.Column("gpus", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("gpus")
        batch.drop_column("cpus")
