"""Drop the record fingerprints table of earlier releases (fingerprints live in the resource rows)

Revision ID: 0003_drop_fingerprints
Revises: 0002_upgrade_history

The inbound engine dropped ``crmsync_fingerprints`` each time it started; this step does it once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_drop_fingerprints"
down_revision = "0002_upgrade_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("crmsync_fingerprints"):
        op.drop_table("crmsync_fingerprints")
