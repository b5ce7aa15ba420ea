"""Job schedules: per scheduled job, the last slot of its schedule that was run (or first seen)

Revision ID: 0011_job_schedules
Revises: 0010_privacy

Written out here, not taken from the models, so that changing a model never changes this step.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_job_schedules"
down_revision = "0010_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crmsync_job_schedules",
        sa.Column("job", sa.String(255), primary_key=True),
        sa.Column("schedule", sa.Text(), nullable=False),
        sa.Column("last_slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("crmsync_job_schedules")
