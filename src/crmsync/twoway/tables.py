"""Two-way sync's own tables in the Campaign store.

- ``crmsync_campaign_changes``: the Campaign change log. Database triggers on a resource table
  (:func:`crmsync.twoway.capture.install_capture`) write one row per edit of a row owned by a CRM
  record: the changed columns with their old and new values (JSON objects), and the database's
  time of the edit. ``entry`` is the order rows were written in; ``id`` is the change's place in
  the log, given once the edit's transaction has committed (see
  :func:`crmsync.twoway.capture.read_changes`), so that a consumer that remembers the last ``id``
  it applied never skips a change.
- ``crmsync_twoway_base``: the base of the two-way merge, one row per record of a mapping: the
  values of its mapped fields both sides last agreed on (JSON, encoded by
  :mod:`crmsync.twoway.base`), the CRM version and last-modified time they were synced at, and
  when the row was written.
- ``crmsync_twoway_conflicts``: the conflict log of the two-way merge, one row per field changed
  on both sides to different values (or differing with no base): both values (JSON, encoded by
  :mod:`crmsync.twoway.conflicts`), both times, the winner and why, which merge found it
  (``found_by``: ``crm`` when a CRM change was merged, ``campaign`` when a Campaign edit was) and
  when it was decided.
- ``crmsync_twoway_sent``: per record of a mapping and round, the values a round of the
  Campaign → CRM side is writing to the CRM (JSON, as the base's), committed before the write
  and deleted with the round's outcome: after a crash in between, the next merge knows the CRM's
  holding them is crmsync's own write (:mod:`crmsync.twoway.sent`).
- ``crmsync_write_origin``: on SQLite, the marker row a crmsync write transaction holds while it
  writes, so that the triggers leave its writes out of the log; it never holds a committed row.
"""

from __future__ import annotations

import sqlalchemy as sa

from crmsync.store.types import UtcDateTime

__all__ = ["BASES", "CHANGES", "CONFLICTS", "METADATA", "SENT", "WRITE_ORIGIN"]

METADATA = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

CHANGES = sa.Table(
    "crmsync_campaign_changes",
    METADATA,
    sa.Column("entry", _ID, primary_key=True, autoincrement=True),
    sa.Column("id", sa.BigInteger(), nullable=True),
    sa.Column("resource", sa.String(255), nullable=False),
    sa.Column("record_key", sa.String(255), nullable=False),
    #: ``insert`` or ``update``.
    sa.Column("operation", sa.String(8), nullable=False),
    sa.Column("old_values", sa.Text(), nullable=False),
    sa.Column("new_values", sa.Text(), nullable=False),
    sa.Column("edited_at", UtcDateTime(), nullable=False),
    sa.Index("ix_crmsync_campaign_changes_id", "id", unique=True),
    # The edits of one record (and the count of a resource's) are found without a scan.
    sa.Index("ix_crmsync_campaign_changes_record", "resource", "record_key"),
    # Entries are never reused, even once the newest rows are deleted.
    sqlite_autoincrement=True,
)

WRITE_ORIGIN = sa.Table(
    "crmsync_write_origin",
    METADATA,
    sa.Column("token", sa.String(32), primary_key=True),
)

BASES = sa.Table(
    "crmsync_twoway_base",
    METADATA,
    sa.Column("mapping", sa.String(255), primary_key=True),
    #: The CRM record's id.
    sa.Column("record_key", sa.String(255), primary_key=True),
    sa.Column("field_values", sa.Text(), nullable=False),
    sa.Column("crm_version", sa.String(255), nullable=True),
    sa.Column("crm_modified_at", UtcDateTime(), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

CONFLICTS = sa.Table(
    "crmsync_twoway_conflicts",
    METADATA,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("mapping", sa.String(255), nullable=False),
    #: The CRM record's id.
    sa.Column("record_key", sa.String(255), nullable=False),
    #: The Campaign field.
    sa.Column("field", sa.String(255), nullable=False),
    sa.Column("campaign_value", sa.Text(), nullable=False),
    sa.Column("crm_value", sa.Text(), nullable=False),
    sa.Column("campaign_changed_at", UtcDateTime(), nullable=True),
    sa.Column("crm_changed_at", UtcDateTime(), nullable=True),
    #: :class:`crmsync.twoway.rule.Winner` and :class:`crmsync.twoway.rule.Reason` values.
    sa.Column("winner", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("found_by", sa.String(16), nullable=False),
    sa.Column("decided_at", UtcDateTime(), nullable=False),
    sa.Index("ix_crmsync_twoway_conflicts_mapping", "mapping", "id"),
)

SENT = sa.Table(
    "crmsync_twoway_sent",
    METADATA,
    sa.Column("mapping", sa.String(255), primary_key=True),
    sa.Column("record_key", sa.String(255), primary_key=True),
    #: One row per round that wrote the record and has not settled it.
    sa.Column("sent_id", sa.String(32), primary_key=True),
    sa.Column("field_values", sa.Text(), nullable=False),
    sa.Column("sent_at", UtcDateTime(), nullable=False),
)
