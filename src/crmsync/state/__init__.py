"""crmsync's own tables in the store (sync state, revisions, users, jobs, outboxes…), with their
schema versions and migrations (see :mod:`crmsync.state.upgrade`)."""

from __future__ import annotations

from crmsync.state.errors import StoreTooNewError
from crmsync.state.upgrade import (
    Migration,
    SchemaVersion,
    ensure_store_schema,
    store_schema,
    upgrade_store,
)

__all__ = [
    "Migration",
    "SchemaVersion",
    "StoreTooNewError",
    "ensure_store_schema",
    "store_schema",
    "upgrade_store",
]
