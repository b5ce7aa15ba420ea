"""The tables of the workflows' state (cursors, snapshots, counters, rejects, parked children,
tombstones, replays, statuses, leases, workers, CRM table metadata, the privacy suppression
list), in the Campaign store database.

All names start with ``crmsync_`` (reserved: no resource can be named so). Timestamps are
:class:`~crmsync.store.types.UtcDateTime`; JSON documents are stored as text, encoded by the state
module, so that both databases hold exactly the same bytes.
"""

from __future__ import annotations

import sqlalchemy as sa

from crmsync.store.types import UtcDateTime

__all__ = ["COUNTER_NAMES", "StateTables", "state_tables"]

#: The counters kept per mapping, in display order.
COUNTER_NAMES: tuple[str, ...] = (
    "read",
    "inserted",
    "updated",
    "unchanged",
    "deleted",
    "filtered",
    "rejected",
    "parked",
    "crm_calls",
    "campaign_writes",
    "suppressed",
)

_NAME = sa.String(255)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only


class StateTables:
    """The state tables, in one :class:`sqlalchemy.MetaData`."""

    def __init__(self) -> None:
        self.metadata = sa.MetaData()
        m = self.metadata
        self.cursors = sa.Table(
            "crmsync_cursors",
            m,
            sa.Column("mapping", _NAME, primary_key=True),
            sa.Column("cursor", sa.Text(), nullable=False),
            sa.Column("updated_at", UtcDateTime(), nullable=False),
        )
        # The highest record version the reader has seen per mapping, saved with the cursor:
        # the version deletions are stamped with (a tombstone's version).
        self.watermarks = sa.Table(
            "crmsync_watermarks",
            m,
            sa.Column("mapping", _NAME, primary_key=True),
            sa.Column("version", sa.BigInteger(), nullable=False),
        )
        # Records deleted (or gone out of the filters), so that an older upsert delivered late
        # cannot bring them back; a newer upsert (a re-creation) removes the tombstone.
        self.tombstones = sa.Table(
            "crmsync_tombstones",
            m,
            sa.Column("mapping", _NAME, primary_key=True),
            sa.Column("key", _NAME, primary_key=True),
            sa.Column("version", sa.BigInteger(), nullable=False),
            sa.Column("deleted_at", UtcDateTime(), nullable=False),
        )
        self.snapshots = sa.Table(
            "crmsync_snapshots",
            m,
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("mapping", _NAME, nullable=False, index=True),
            sa.Column("started_at", UtcDateTime(), nullable=False),
            sa.Column("finished_at", UtcDateTime()),
            sa.Column("total_messages", sa.Integer()),
            sa.Column("closed_at", UtcDateTime()),
        )
        self.snapshot_messages = sa.Table(
            "crmsync_snapshot_messages",
            m,
            sa.Column("snapshot_id", sa.String(32), primary_key=True),
            sa.Column("message_id", _NAME, primary_key=True),
            sa.Column("applied", sa.Boolean(), nullable=False),
        )
        # The keys each open snapshot has seen: one row per applied message (or page of
        # records read unchanged), its keys as one JSON array. A row per key cost an initial
        # load about a seventh of its time: a million inserts at random places of an index.
        self.snapshot_key_sets = sa.Table(
            "crmsync_snapshot_key_sets",
            m,
            sa.Column("id", _ID, primary_key=True, autoincrement=True),
            sa.Column("snapshot_id", sa.String(32), nullable=False, index=True),
            sa.Column("key_list", sa.Text(), nullable=False),
        )
        # A row per key, as stores made by earlier versions hold them: still read, so that a
        # snapshot open across an upgrade keeps every key it saw.
        self.snapshot_keys = sa.Table(
            "crmsync_snapshot_keys",
            m,
            sa.Column("snapshot_id", sa.String(32), primary_key=True),
            sa.Column("key", _NAME, primary_key=True),
        )
        self.counters = sa.Table(
            "crmsync_counters",
            m,
            sa.Column("mapping", _NAME, primary_key=True),
            *(
                sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
                for name in COUNTER_NAMES
            ),
            sa.Column("updated_at", UtcDateTime(), nullable=False),
        )
        self.rejects = sa.Table(
            "crmsync_rejects",
            m,
            sa.Column("id", _ID, primary_key=True, autoincrement=True),
            sa.Column("at", UtcDateTime(), nullable=False, index=True),
            sa.Column("workflow", _NAME, nullable=False),
            sa.Column("mapping", _NAME, index=True),
            sa.Column("record_id", _NAME),
            sa.Column("code", _NAME, nullable=False),
            sa.Column("message", sa.Text(), nullable=False),
            sa.Column("record", sa.Text(), nullable=False),
        )
        self.parked = sa.Table(
            "crmsync_parked",
            m,
            sa.Column("id", _ID, primary_key=True, autoincrement=True),
            sa.Column("mapping", _NAME, nullable=False),
            sa.Column("record_id", _NAME, nullable=False),
            # '' when the change has no version, so that the unique constraint holds (NULLs differ)
            sa.Column("version", _NAME, nullable=False),
            sa.Column("parent_resource", _NAME, nullable=False),
            sa.Column("parent_key", _NAME, nullable=False),
            sa.Column("payload", sa.Text(), nullable=False),
            sa.Column("parked_at", UtcDateTime(), nullable=False, index=True),
            sa.UniqueConstraint("mapping", "record_id", "version", name="crmsync_parked_change"),
            sa.Index("crmsync_parked_parent", "parent_resource", "parent_key"),
        )
        self.replays = sa.Table(
            "crmsync_replays",
            m,
            sa.Column("mapping", _NAME, primary_key=True),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("requested_at", UtcDateTime(), nullable=False),
            sa.Column("backlog", sa.BigInteger(), nullable=False),
            sa.Column("table_rows", sa.BigInteger(), nullable=False),
            sa.Column("taken_at", UtcDateTime()),
        )
        # One holder at a time for each duty two processes could both do (reading a mapping,
        # a workflow, the writers' housekeeping): see crmsync.state.leases.
        self.leases = sa.Table(
            "crmsync_leases",
            m,
            sa.Column("name", _NAME, primary_key=True),
            sa.Column("holder", sa.String(64), nullable=False),
            # Grows by one each time another holder takes the lease: what fences a lost holder.
            sa.Column("token", sa.BigInteger(), nullable=False),
            sa.Column("acquired_at", UtcDateTime(), nullable=False),
            sa.Column("expires_at", UtcDateTime(), nullable=False),
        )
        # Every ``crmsync run`` / ``serve`` process (and writer process), with its heartbeat.
        self.workers = sa.Table(
            "crmsync_workers",
            m,
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("host", _NAME, nullable=False),
            # The host name and its boot: a process of the same machine can see a pid is gone.
            sa.Column("machine", _NAME, nullable=False),
            sa.Column("pid", sa.Integer(), nullable=False),
            sa.Column("started_at", UtcDateTime(), nullable=False),
            sa.Column("heartbeat_at", UtcDateTime(), nullable=False),
            sa.Column("stopped_at", UtcDateTime()),
        )
        # The CRM table metadata each mapping was compiled against, saved by the readers: a
        # writer compiles its mappings from it and never calls the CRM.
        self.crm_tables = sa.Table(
            "crmsync_crm_tables",
            m,
            sa.Column("connection", _NAME, primary_key=True),
            sa.Column("crm_table", _NAME, primary_key=True),
            sa.Column("info", sa.Text(), nullable=False),
            sa.Column("described_at", UtcDateTime(), nullable=False),
        )
        # Records a privacy delete removed, which the CRM must never bring back: a record of a
        # resource by its identifier (``kind`` ``crm_id``: the CRM id), or a profile's email by
        # its hash (``kind`` ``email``). See crmsync.state.suppressions.
        self.suppressions = sa.Table(
            "crmsync_suppressions",
            m,
            sa.Column("id", _ID, primary_key=True, autoincrement=True),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("resource", _NAME, nullable=False),
            sa.Column("key", _NAME, nullable=False),
            # The CRM table the record came from, when a mapping reads the resource.
            sa.Column("connection", _NAME),
            sa.Column("crm_table", _NAME),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("suppressed_at", UtcDateTime(), nullable=False),
            sa.Column("suppressed_by", _NAME, nullable=False),
            # The privacy delete that suppressed it.
            sa.Column("delete_id", sa.String(32)),
            sa.UniqueConstraint("kind", "resource", "key", name="crmsync_suppressions_entry"),
        )
        self.workflows = sa.Table(
            "crmsync_workflows",
            m,
            sa.Column("workflow", _NAME, primary_key=True),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("reason", sa.Text()),
            sa.Column("updated_at", UtcDateTime(), nullable=False),
        )


def state_tables() -> StateTables:
    """A fresh set of the state tables."""
    return StateTables()
