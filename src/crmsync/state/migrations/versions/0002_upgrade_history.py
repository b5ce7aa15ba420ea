"""A record of the store's schema upgrades, and which crmsync release ran each

Revision ID: 0002_upgrade_history
Revises: 0001_baseline

An older crmsync that meets a store upgraded by a newer one reads it to say which release is
needed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_upgrade_history"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crmsync_schema_upgrades",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("from_version", sa.String(32), nullable=True),
        sa.Column("to_version", sa.String(32), nullable=False),
        sa.Column("release", sa.String(32), nullable=False),
        sa.Column("upgraded_at", sa.DateTime(timezone=True), nullable=False),
    )
