"""crmsync's own tables in the store, with their schema versions and migrations
(:mod:`crmsync.state.upgrade`), and the workflows' state kept there, one class per concern:
cursors, snapshots, counters, rejects, parked children, tombstones, replays and workflow
statuses (:class:`StateStore` holds them all)."""

from __future__ import annotations

from crmsync.state.counters import Counters
from crmsync.state.cursors import Cursors
from crmsync.state.errors import StoreTooNewError
from crmsync.state.parked import ParkedChanges
from crmsync.state.rejects import Rejects
from crmsync.state.replays import DEFAULT_REPLAY_LIMIT, Replays
from crmsync.state.snapshots import Snapshots
from crmsync.state.statuses import WorkflowStatuses
from crmsync.state.store import StateStore
from crmsync.state.tombstones import Tombstones
from crmsync.state.upgrade import (
    Migration,
    SchemaVersion,
    ensure_store_schema,
    new_store_schema,
    store_schema,
    upgrade_store,
)

__all__ = [
    "DEFAULT_REPLAY_LIMIT",
    "Counters",
    "Cursors",
    "Migration",
    "ParkedChanges",
    "Rejects",
    "Replays",
    "SchemaVersion",
    "Snapshots",
    "StateStore",
    "StoreTooNewError",
    "Tombstones",
    "WorkflowStatuses",
    "ensure_store_schema",
    "new_store_schema",
    "store_schema",
    "upgrade_store",
]
