"""The privacy workflow's own table in the Campaign store (the suppression list itself is state
the inbound writer reads: ``crmsync_suppressions``, :mod:`crmsync.state.suppressions`).

- ``crmsync_privacy_actions``: one row per privacy delete or lifted suppression, holding no
  personal data: when, who, why, the ids (the Campaign id, the CRM id and, for an email, its
  hash only), how many rows of each table were removed (JSON object), and the CRM delete the
  action asked for. A delete's row is written in the transaction of the local delete; with a CRM
  delete its ``crm_delete`` is ``pending`` until the CRM answered (``deleted``, ``not_found``,
  ``refused``, the refusal's code in ``crm_error``): the intent a re-run finishes, once.
"""

from __future__ import annotations

import sqlalchemy as sa

from crmsync.store.types import UtcDateTime

__all__ = ["ACTIONS", "METADATA"]

METADATA = sa.MetaData()

ACTIONS = sa.Table(
    "crmsync_privacy_actions",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    #: ``delete`` or ``unsuppress``.
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    #: ``user:<name>``, ``token:<name>`` or ``cli:<operating-system user>``.
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    #: The profile's Campaign id.
    sa.Column("profile_id", sa.BigInteger(), nullable=True),
    sa.Column("crm_id", sa.String(255), nullable=True),
    sa.Column("connection", sa.String(255), nullable=True),
    sa.Column("crm_table", sa.String(255), nullable=True),
    sa.Column("email_hash", sa.String(64), nullable=True),
    #: Rows removed per table, as a JSON object.
    sa.Column("removed", sa.Text(), nullable=False),
    #: ``None`` (not asked), ``pending``, ``deleted``, ``not_found`` or ``refused``.
    sa.Column("crm_delete", sa.String(16), nullable=True),
    sa.Column("crm_error", sa.Text(), nullable=True),
    sa.Column("crm_done_at", UtcDateTime(), nullable=True),
    sa.Index("ix_crmsync_privacy_actions_at", "at"),
)
