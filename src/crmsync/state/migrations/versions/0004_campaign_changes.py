"""The Campaign change log of two-way sync, and the marker of crmsync's own writes

Revision ID: 0004_campaign_changes
Revises: 0003_drop_fingerprints

Written out here, not taken from the models, so that changing a model never changes this step.
On PostgreSQL a sequence numbers the changes as they are read (SQLite numbers them by their
entry: it commits one writer at a time).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_campaign_changes"
down_revision = "0003_drop_fingerprints"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crmsync_campaign_changes",
        sa.Column(
            "entry",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("id", sa.BigInteger(), nullable=True),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("record_key", sa.String(255), nullable=False),
        sa.Column("operation", sa.String(8), nullable=False),
        sa.Column("old_values", sa.Text(), nullable=False),
        sa.Column("new_values", sa.Text(), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_crmsync_campaign_changes_id", "crmsync_campaign_changes", ["id"], unique=True
    )
    op.create_table(
        "crmsync_write_origin",
        sa.Column("token", sa.String(32), primary_key=True),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            sa.schema.CreateSequence(
                sa.Sequence("crmsync_campaign_change_ids", start=0, minvalue=0)
            )
        )
