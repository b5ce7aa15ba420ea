"""The base of the two-way merge: the last synced values of each record of a mapping

Revision ID: 0005_twoway_base
Revises: 0004_campaign_changes

Written out here, not taken from the models, so that changing a model never changes this step.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_twoway_base"
down_revision = "0004_campaign_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crmsync_twoway_base",
        sa.Column("mapping", sa.String(255), primary_key=True),
        sa.Column("record_key", sa.String(255), primary_key=True),
        sa.Column("field_values", sa.Text(), nullable=False),
        sa.Column("crm_version", sa.String(255), nullable=True),
        sa.Column("crm_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
