"""The values a round of the two-way merge is writing to the CRM, per record

Revision ID: 0007_twoway_sent
Revises: 0006_twoway_conflicts

Written out here, not taken from the models, so that changing a model never changes this step.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_twoway_sent"
down_revision = "0006_twoway_conflicts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crmsync_twoway_sent",
        sa.Column("mapping", sa.String(255), primary_key=True),
        sa.Column("record_key", sa.String(255), primary_key=True),
        sa.Column("sent_id", sa.String(32), primary_key=True),
        sa.Column("field_values", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
