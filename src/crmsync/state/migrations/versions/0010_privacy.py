"""Privacy deletes: the suppression list, the record of each privacy action (with the CRM
delete it asked for), and the ``suppressed`` counter of each inbound mapping

Revision ID: 0010_privacy
Revises: 0009_audit

Written out here, not taken from the models, so that changing a model never changes this step.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_privacy"
down_revision = "0009_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "crmsync_counters",
        sa.Column("suppressed", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "crmsync_suppressions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("connection", sa.String(255), nullable=True),
        sa.Column("crm_table", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("suppressed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("suppressed_by", sa.String(255), nullable=False),
        sa.Column("delete_id", sa.String(32), nullable=True),
        sa.UniqueConstraint("kind", "resource", "key", name="crmsync_suppressions_entry"),
    )
    op.create_table(
        "crmsync_privacy_actions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.BigInteger(), nullable=True),
        sa.Column("crm_id", sa.String(255), nullable=True),
        sa.Column("connection", sa.String(255), nullable=True),
        sa.Column("crm_table", sa.String(255), nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=True),
        sa.Column("removed", sa.Text(), nullable=False),
        sa.Column("crm_delete", sa.String(16), nullable=True),
        sa.Column("crm_error", sa.Text(), nullable=True),
        sa.Column("crm_done_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_crmsync_privacy_actions_at", "crmsync_privacy_actions", ["at"])
