"""The operator audit trail's table in the store: ``crmsync_audit``, one row per operator action.

A row is written when the action begins (outcome ``started``) and settled when it ends (``ok``
or ``failed``), so that an action cut short by a crash still shows; a refused call is one row
(``refused``). ``details`` is a JSON object of ids and counts, never values of records.
"""

from __future__ import annotations

import sqlalchemy as sa

from crmsync.store.types import UtcDateTime

__all__ = ["AUDIT", "METADATA"]

METADATA = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

AUDIT = sa.Table(
    "crmsync_audit",
    METADATA,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("face", sa.String(16), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("details", sa.Text(), nullable=False),
    sa.Index("ix_crmsync_audit_at", "at"),
    sa.Index("ix_crmsync_audit_actor", "actor", "at"),
    sa.Index("ix_crmsync_audit_action", "action", "at"),
)
