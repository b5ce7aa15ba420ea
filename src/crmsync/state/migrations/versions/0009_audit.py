"""The operator audit trail: who did what, through which face, when, with what outcome

Revision ID: 0009_audit
Revises: 0008_leases_workers

Written out here, not taken from the models, so that changing a model never changes this step.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_audit"
down_revision = "0008_leases_workers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crmsync_audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("face", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
    )
    op.create_index("ix_crmsync_audit_at", "crmsync_audit", ["at"])
    op.create_index("ix_crmsync_audit_actor", "crmsync_audit", ["actor", "at"])
    op.create_index("ix_crmsync_audit_action", "crmsync_audit", ["action", "at"])
