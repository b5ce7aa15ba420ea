"""The opt-in/out workflow's own tables in the Campaign store.

- ``crmsync_optout_outbox``: Campaign → CRM change log. A row is written in the same transaction as
  the Campaign change it carries (so no committed change can be missed), and marked ``sent_at``
  once the CRM holds the value (or ``outcome`` says why it never will).
- ``crmsync_optout_log``: every decision when the logs switch is on (inputs, winner, reason).
- ``crmsync_optout_cursor``: the CRM change-tracking cursor, saved after the round it covers.
"""

from __future__ import annotations

import sqlalchemy as sa

from crmsync.store.types import UtcDateTime

__all__ = ["CURSOR", "LOG", "METADATA", "OUTBOX"]

METADATA = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

OUTBOX = sa.Table(
    "crmsync_optout_outbox",
    METADATA,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("external_id", sa.String(255), nullable=False),
    sa.Column("attribute", sa.String(64), nullable=False),
    sa.Column("opted_out", sa.Boolean(), nullable=False),
    sa.Column("changed_at", UtcDateTime(), nullable=False),
    sa.Column("origin", sa.String(255), nullable=True),
    sa.Column("sent_at", UtcDateTime(), nullable=True),
    #: ``written``, ``crm_already_equal``, ``crm_won``, ``crm_record_missing``, or an error code.
    sa.Column("outcome", sa.String(255), nullable=True),
    sa.Index("ix_crmsync_optout_outbox_pending", "sent_at", "id"),
)

LOG = sa.Table(
    "crmsync_optout_log",
    METADATA,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("decided_at", UtcDateTime(), nullable=False),
    sa.Column("external_id", sa.String(255), nullable=False),
    sa.Column("attribute", sa.String(64), nullable=False),
    sa.Column("crm_field", sa.String(255), nullable=False),
    sa.Column("direction", sa.String(32), nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("crm_value", sa.Boolean(), nullable=True),
    sa.Column("crm_time", UtcDateTime(), nullable=True),
    sa.Column("campaign_value", sa.Boolean(), nullable=True),
    sa.Column("campaign_time", UtcDateTime(), nullable=True),
    sa.Column("result", sa.Boolean(), nullable=True),
    sa.Column("winner", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("wrote", sa.String(16), nullable=False),
    sa.Index("ix_crmsync_optout_log_person", "external_id", "id"),
)

CURSOR = sa.Table(
    "crmsync_optout_cursor",
    METADATA,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("cursor", sa.Text(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
