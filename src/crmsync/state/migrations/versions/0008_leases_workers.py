"""Leases (one holder at a time for each reading or workflow duty), the registry of running
workers, and the CRM table metadata readers share with writers

Revision ID: 0008_leases_workers
Revises: 0007_twoway_sent

Written out here, not taken from the models, so that changing a model never changes this step.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_leases_workers"
down_revision = "0007_twoway_sent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crmsync_leases",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "crmsync_workers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("machine", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "crmsync_crm_tables",
        sa.Column("connection", sa.String(255), primary_key=True),
        sa.Column("crm_table", sa.String(255), primary_key=True),
        sa.Column("info", sa.Text(), nullable=False),
        sa.Column("described_at", sa.DateTime(timezone=True), nullable=False),
    )
