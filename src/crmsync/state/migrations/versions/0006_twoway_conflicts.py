"""The conflict log of the two-way merge, and the edits of a record found by its key

Revision ID: 0006_twoway_conflicts
Revises: 0005_twoway_base

Written out here, not taken from the models, so that changing a model never changes this step.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_twoway_conflicts"
down_revision = "0005_twoway_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crmsync_twoway_conflicts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("mapping", sa.String(255), nullable=False),
        sa.Column("record_key", sa.String(255), nullable=False),
        sa.Column("field", sa.String(255), nullable=False),
        sa.Column("campaign_value", sa.Text(), nullable=False),
        sa.Column("crm_value", sa.Text(), nullable=False),
        sa.Column("campaign_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("crm_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("winner", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("found_by", sa.String(16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_crmsync_twoway_conflicts_mapping", "crmsync_twoway_conflicts", ["mapping", "id"]
    )
    op.create_index(
        "ix_crmsync_campaign_changes_record",
        "crmsync_campaign_changes",
        ["resource", "record_key"],
    )
