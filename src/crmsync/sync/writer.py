"""The inbound writer of one table mapping: queue messages → Campaign rows, one transaction each.

For every message, in one transaction on the Campaign store: filters, conversion to a row
(:meth:`CompiledMapping.to_row`; a record that cannot be written becomes a reject and the rest of
the message goes on), parent-before-child (a child whose parent row is not there yet is parked),
records a privacy delete suppressed left out (counted ``suppressed``; see
:mod:`crmsync.state.suppressions`), the version-guarded batch upsert, deletes (when the mapping
applies them), deletes of records that left the filters (when asked), the snapshot key set, the
counters. Deletes are version-guarded
too: they remove only rows the CRM owns and not newer than the delete, so a deletion delivered
after the re-creation of its record (by another writer, or again after a kill) leaves the new
row. The caller acknowledges the message only after this transaction has committed, so a writer
killed at any moment leaves either all of a message or none of it, and the redelivered message
is applied again harmlessly: the source version decides. The transactions that write one
mapping's rows take its lock first (:meth:`~crmsync.state.counters.Counters.counters.hold_mapping`):
with several writer processes they run one after the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from crmsync.connectors.base import Record
from crmsync.errors import RejectError
from crmsync.queue.base import Change, ChangeMessage
from crmsync.state.store import StateStore
from crmsync.state.suppressions import WriteGuard
from crmsync.store.bulk import column_processors
from crmsync.store.key_lists import one_of
from crmsync.store.names import SOURCE_DIGEST
from crmsync.store.optouts import OPT_OUT_NAMES, stamp_opt_outs
from crmsync.store.writes import delete_by_keys, delete_versioned, upsert_batch
from crmsync.sync.fingerprints import Fingerprints
from crmsync.sync.transform import CompiledMapping, ParentLink
from crmsync.twoway.capture import crmsync_writes
from crmsync.twoway.inbound import CrmMerge

__all__ = ["MISSING_VERSION", "WORKFLOW", "MappingWriter", "version_number"]

logger = logging.getLogger(__name__)

WORKFLOW = "inbound"
#: The reject code of a record that carries no version (the writer cannot guard it).
MISSING_VERSION = "MISSING_VERSION"


def version_number(version: int | str | None) -> int | None:
    """The record version as the store keeps it: a growing 64-bit integer.

    Dataverse versions are integers already; a timestamp version (Salesforce ``SystemModstamp``)
    becomes microseconds since the epoch, which grows with it.
    """
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    if isinstance(version, str):
        if version.isdigit():
            return int(version)
        try:
            stamp = datetime.fromisoformat(version.replace("Z", "+00:00"))
        except ValueError:
            return None
        if stamp.tzinfo is not None:
            return int(stamp.timestamp() * 1_000_000)
    return None


class MappingWriter:
    """Applies one mapping's messages to its Campaign resource table."""

    def __init__(
        self,
        compiled: CompiledMapping,
        table: sa.Table,
        tables: Mapping[str, sa.Table],
        state: StateStore,
        *,
        origin: str,
        on_written: Callable[[str, int], None] | None = None,
        two_way: CrmMerge | None = None,
    ) -> None:
        self.compiled = compiled
        self.table = table
        self.parents = {link.parent_resource: tables[link.parent_resource] for link in self.links}
        self.state = state
        self.origin = origin
        self._on_written = on_written
        self.fingerprints = Fingerprints(
            table, key_field=compiled.key_field, signature=compiled.signature
        )
        #: Whether the mapping writes opt-out attributes (whose change times are kept).
        self._opt_outs = any(column in OPT_OUT_NAMES for column in compiled.columns)
        #: The merge of a two-way mapping's CRM changes into its rows (``None``: one-way).
        self.two_way = two_way
        #: Rows in the form the store's driver takes, as the writes below take them.
        self._processors = column_processors(state.engine.dialect, table, compiled.columns)
        self._to_row = compiled.row_maker(self._processors)
        #: What a privacy delete may have suppressed: the record, or the parent a link names.
        self._guard = WriteGuard(
            compiled.resource,
            compiled.key_field,
            tuple((link.column, link.parent_resource) for link in compiled.parent_links),
        )

    @property
    def name(self) -> str:
        return self.compiled.name

    @property
    def links(self) -> tuple[ParentLink, ...]:
        return self.compiled.parent_links

    # -- messages -------------------------------------------------------------------------------

    def apply(self, message: ChangeMessage) -> dict[str, int]:
        """Apply ``message`` in one transaction; returns the counter deltas it committed."""
        return self.apply_all([message])

    def apply_all(self, messages: Sequence[ChangeMessage]) -> dict[str, int]:
        """Apply ``messages`` (of this mapping) in one transaction, as one batch: the version
        guard makes that the same as applying them one by one, in any order. Returns the
        counter deltas committed.

        The records are converted before the transaction begins: another writer process can
        hold the store meanwhile (SQLite has one writer at a time)."""
        read = sum(len(message.changes) for message in messages)
        batches = []
        for full in (True, False):
            changes = [
                change
                for message in messages
                if (message.snapshot is not None) is full
                for change in message.changes
            ]
            if changes:
                batches.append(self._prepare(changes, full=full))
        with self.state.engine.begin() as conn:
            # A write first: the transaction takes the mapping's write lock now (waiting for
            # another writer of the mapping if need be), not after its reads (which would weigh
            # changes against rows that writer is about to change; SQLite would even fail at
            # once if it committed in between).
            self.state.counters.hold_mapping(conn, self.name)
            counts = self._commit_all(conn, batches, messages, read)
        if self._on_written is not None:
            self._on_written(self.name, read)
        return counts

    def _own_writes(self, conn: sa.Connection) -> AbstractContextManager[Any]:
        """Marks the writes of the block as crmsync's own, so that the capture of Campaign edits
        leaves them out of its log; only a two-way mapping's table is captured (a resource is
        mapped once), so a one-way mapping's writes need no mark."""
        return crmsync_writes(conn) if self.two_way is not None else nullcontext(conn)

    def _commit_all(
        self,
        conn: sa.Connection,
        batches: Sequence[_Batch],
        messages: Sequence[ChangeMessage],
        read: int,
    ) -> dict[str, int]:
        with self._own_writes(conn):
            counts: dict[str, int] = {}
            for batch in batches:
                for name, count in self._commit(conn, batch).items():
                    counts[name] = counts.get(name, 0) + count
            # The snapshots' key sets: a few statements for all the messages.
            snapshots = self.state.snapshots
            snapshots.mark_all_applied(
                conn,
                [
                    (message.snapshot, message.message_id, _upserted(message))
                    for message in messages
                    if message.snapshot is not None
                ],
            )
            seen = [key for m in messages if m.snapshot is None for key in _upserted(m)]
            snapshots.note_seen(conn, self.name, seen)
            counts["read"] = read
            self.state.counters.add(conn, self.name, **counts)
        return counts

    def _apply(
        self, conn: sa.Connection, changes: Sequence[Change], *, full: bool
    ) -> dict[str, int]:
        return self._commit(conn, self._prepare(changes, full=full))

    def _prepare(self, changes: Sequence[Change], *, full: bool) -> _Batch:
        """Filters, conversions and digests of ``changes``: no store access. The rows are in
        the form the store's driver takes."""
        compiled = self.compiled
        to_row = self._to_row
        batch = _Batch(changes, full)
        # The rows will hold every mapped field of their record: worth a fingerprint.
        fingerprinted = full or not compiled.insert_only
        for change in changes:
            if change.kind == "delete":
                batch.deleted[change.id] = _newer(
                    batch.deleted.get(change.id), version_number(change.version)
                )
                continue
            version = version_number(change.version)
            record = Record(change.id, change.values, change.formatted, version)
            if not compiled.passes(record):
                batch.filtered += 1
                if compiled.delete_filtered_out and version is not None:
                    left = batch.left_filters
                    left[change.id] = max(version, left.get(change.id, version))
                continue
            if version is None:
                batch.rejects.append((change, MISSING_VERSION, "the record carries no version"))
                continue
            try:
                row = to_row(record)
            except RejectError as exc:
                batch.rejects.append((change, exc.code or "REJECTED", exc.message))
                continue
            row["source_version"] = version
            if fingerprinted:
                digest = change.digest
                if digest is None:
                    digest = self.fingerprints.digest(change.values, change.formatted)
                row[SOURCE_DIGEST] = digest
            batch.rows.append(row)
        return batch

    def _commit(self, conn: sa.Connection, batch: _Batch) -> dict[str, int]:
        """Write a prepared batch in the transaction of ``conn``; returns the counter deltas."""
        counts = dict.fromkeys(("inserted", "updated", "unchanged", "deleted", "parked"), 0)
        counts["filtered"] = batch.filtered
        compiled = self.compiled
        suppressions = self.state.suppressions
        rows, counts["suppressed"] = suppressions.unsuppressed(
            conn, self._guard, self.table, batch.rows, upsert_key=compiled.key_field
        )
        rejects = batch.rejects
        if rejects:
            # A suppressed record is not kept as a reject either: a reject holds its values.
            held = suppressions.found(
                conn, "crm_id", compiled.resource, [change.id for change, _, _ in rejects]
            )
            rejects = [item for item in rejects if item[0].id not in held]
            counts["suppressed"] += len(batch.rejects) - len(rejects)
        counts["rejected"] = len(rejects)
        for change, code, message in rejects:
            self._reject(conn, change, code, message)
        full, changes = batch.full, batch.changes
        left_filters, deleted = batch.left_filters, batch.deleted
        # Records that left the filters in a snapshot were mostly never stored: no tombstones
        # for them (the snapshot's reconciliation covers a full read).
        left = {} if full else left_filters
        if compiled.apply_deletes or left:
            rows, buried = self._bury(conn, rows, deleted, left)
            counts["unchanged"] += buried
        rows, parked = self._park_orphans(conn, rows, changes)
        counts["parked"] = parked
        if rows and self.two_way is not None:
            upserts: dict[str, Change] = {}
            for change in changes:  # the newest change of each record, as its row is
                if change.kind == "upsert" and _newer_than_held(change, upserts.get(change.id)):
                    upserts[change.id] = change
            merged = self.two_way.merge_rows(conn, rows, upserts, self._processors)
            counts["unchanged"] += len(rows) - len(merged)
            rows = merged
        if rows:
            if self._opt_outs:
                # Opt-out attributes keep their own change times (the opt-out conflict rule
                # needs them).
                rows = stamp_opt_outs(conn, self.table, compiled.key_field, rows, driver_form=True)
            result = upsert_batch(
                conn,
                self.table,
                compiled.key_field,
                rows,
                insert_only=() if full else compiled.insert_only,
                origin=self.origin,
                driver_form=True,
            )
            counts["inserted"] = result.inserted
            counts["updated"] = result.updated
            counts["unchanged"] += result.unchanged + result.stale
        if left_filters:
            counts["deleted"] += self._delete(conn, left_filters)
        if deleted and compiled.apply_deletes:
            counts["deleted"] += self._delete(conn, deleted)
        counts["campaign_writes"] = counts["inserted"] + counts["updated"] + counts["deleted"]
        return counts

    def _bury(
        self,
        conn: sa.Connection,
        rows: list[dict[str, Any]],
        deleted: dict[str, int | None],
        left_filters: Mapping[str, int],
    ) -> tuple[list[dict[str, Any]], int]:
        """Weigh the message's upserts against tombstones (stored, and the message's own deletes):
        an upsert not newer than its record's deletion is stale and dropped; a newer one is a
        re-creation and clears the tombstone (a delete of the same message older than it is
        dropped). The message's versioned deletes become tombstones. Returns the rows to write
        and how many were dropped."""
        key_field = self.compiled.key_field
        tombs = self.state.tombstones.versions(conn, self.name, [row[key_field] for row in rows])
        fresh: dict[str, int] = dict(left_filters)
        if self.compiled.apply_deletes:
            for key, version in deleted.items():
                if version is not None:
                    fresh[key] = max(version, fresh.get(key, version))
        if not tombs and not fresh:  # (the usual case: nothing to weigh)
            return rows, 0
        kept: list[dict[str, Any]] = []
        revived: list[str] = []
        for row in rows:
            key = row[key_field]
            tomb = _newer(tombs.get(key), fresh.get(key))
            if tomb is not None and row["source_version"] <= tomb:
                continue
            if tomb is not None:
                revived.append(key)
                fresh.pop(key, None)
                if deleted.get(key) is not None:
                    del deleted[key]
            kept.append(row)
        if revived:
            self.state.tombstones.clear(conn, self.name, revived)
        if fresh:
            self.state.tombstones.add(conn, self.name, fresh)
        return kept, len(rows) - len(kept)

    def _reject(self, conn: sa.Connection, change: Change, code: str, message: str) -> None:
        record = {"id": change.id, "version": change.version, "values": dict(change.values)}
        self.state.rejects.add(conn, WORKFLOW, self.name, change.id, code, message, record)

    def _delete(self, conn: sa.Connection, versions: Mapping[str, int | None]) -> int:
        """Delete the CRM-owned rows of deleted records (or records that left the filters) as of
        their delete's version: a row written from a newer change stays (see
        :func:`~crmsync.store.writes.delete_versioned`); an unversioned delete removes the row
        whatever its version. Parked changes of those records go the same way. Returns how many
        rows were deleted."""
        key_field = self.compiled.key_field
        versioned = {key: v for key, v in versions.items() if v is not None}
        count = delete_versioned(conn, self.table, key_field, versioned)
        unversioned = [key for key, version in versions.items() if version is None]
        if unversioned:
            count += delete_by_keys(conn, self.table, key_field, unversioned)
        self._drop_parked(conn, versions)
        if self.two_way is not None:
            self.two_way.forget_deleted(conn, versions)
        return count

    # -- parent before child --------------------------------------------------------------------

    def _missing_parents(
        self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]
    ) -> dict[int, ParentLink]:
        """Index of each row whose parent row is not (yet) in the store → the link it waits on.

        The parents found are locked against deletion until the transaction ends (``FOR KEY
        SHARE``, PostgreSQL): a parent another writer process is deleting is waited for and
        then missing, so its child is parked rather than refused by the link's foreign key."""
        missing: dict[int, ParentLink] = {}
        for link in self.links:
            wanted = {row[link.column] for row in rows if row.get(link.column) is not None}
            if not wanted:
                continue
            parent = self.parents[link.parent_resource]
            column = parent.c[link.parent_key]
            query = sa.select(column).where(one_of(column, list(wanted), conn.dialect))
            # (SQLite, one writer at a time, renders no lock.)
            present = set(conn.scalars(query.with_for_update(read=True, key_share=True)))
            for index, row in enumerate(rows):
                value = row.get(link.column)
                if value is not None and value not in present and index not in missing:
                    missing[index] = link
        return missing

    def _park_orphans(
        self, conn: sa.Connection, rows: list[dict[str, Any]], changes: Sequence[Change]
    ) -> tuple[list[dict[str, Any]], int]:
        if not self.links or not rows:
            return rows, 0
        missing = self._missing_parents(conn, rows)
        if not missing:
            return rows, 0
        by_id = {c.id: c for c in changes if c.kind == "upsert"}
        key_field = self.compiled.key_field
        for index, link in missing.items():
            row = rows[index]
            change = by_id[row[key_field]]
            payload = {
                "id": change.id,
                "version": change.version,
                "values": dict(change.values),
                "formatted": dict(change.formatted),
            }
            self.state.parked.park(
                conn,
                self.name,
                change.id,
                link.parent_resource,
                str(row[link.column]),
                payload,
                version=row["source_version"],
            )
        kept = [row for index, row in enumerate(rows) if index not in missing]
        return kept, len(missing)

    def _drop_parked(self, conn: sa.Connection, versions: Mapping[str, int | None]) -> None:
        """A deleted or filtered-out record must not come back when its parent arrives: its
        parked changes not newer than the delete (``None``: all of them) are dropped."""
        if not self.links or not versions:
            return
        t = self.state.tables.parked
        listed = one_of(t.c.record_id, list(versions), conn.dialect)
        parked = conn.execute(
            sa.select(t.c.id, t.c.record_id, t.c.version).where(t.c.mapping == self.name, listed)
        )
        dropped = [
            row.id
            for row in parked
            if not _newer_than(version_number(row.version), versions[row.record_id])
        ]
        if dropped:
            self.state.parked.unpark(conn, dropped)

    def release_parked(self, *, limit: int = 1000) -> int:
        """Apply parked children whose parent has arrived; returns how many were released."""
        if not self.links or not self.state.parked.count(self.name):
            return 0  # (the housekeeping of an idle writer takes no lock)
        t = self.state.tables.parked
        with self.state.engine.begin() as conn:
            self.state.counters.hold_mapping(conn, self.name)
            parked = conn.execute(
                sa.select(t.c.id, t.c.parent_resource, t.c.parent_key, t.c.payload)
                .where(t.c.mapping == self.name)
                .order_by(t.c.id)
                .limit(limit)
            ).all()
            if not parked:
                return 0
            present = self._present_parents(conn, parked)
            ready = [row for row in parked if (row.parent_resource, row.parent_key) in present]
            if not ready:
                return 0
            self.state.parked.unpark(conn, [row.id for row in ready])
            changes = [_parked_change(orjson.loads(row.payload)) for row in ready]
            with self._own_writes(conn):
                counts = self._apply(conn, changes, full=False)
            self.state.counters.add(conn, self.name, **counts)
        return len(ready)

    def _present_parents(self, conn: sa.Connection, parked: Sequence[Any]) -> set[tuple[str, str]]:
        wanted: dict[str, set[str]] = {}
        for row in parked:
            wanted.setdefault(row.parent_resource, set()).add(row.parent_key)
        present: set[tuple[str, str]] = set()
        for link in self.links:
            values = wanted.pop(link.parent_resource, None)
            if not values:
                continue
            column = self.parents[link.parent_resource].c[link.parent_key]
            query = sa.select(column).where(one_of(column, list(values), conn.dialect))
            present.update((link.parent_resource, str(value)) for value in conn.scalars(query))
        return present

    # -- snapshots ------------------------------------------------------------------------------

    def reconcile_snapshots(self) -> int:
        """Close the mapping's complete snapshots; with apply deletes, delete the CRM-owned rows
        the snapshot did not see (deleted in the CRM while no cursor covered them)."""
        deleted = 0
        for info in self.state.snapshots.all(self.name):
            if not info.ready:
                continue
            if self.compiled.apply_deletes:
                key = self.table.c[self.compiled.key_field]
                unseen = self.state.snapshots.unseen(info.id, key)
                with self.state.engine.begin() as conn:
                    # No writer of the mapping between the look-up and the delete: a row
                    # written meanwhile (and seen by the snapshot) would be deleted with the rest.
                    self.state.counters.hold_mapping(conn, self.name)
                    gone = list(conn.scalars(sa.select(key).where(key.is_not(None), unseen)))
                    if gone:
                        count = delete_by_keys(conn, self.table, self.compiled.key_field, gone)
                        self._drop_parked(conn, dict.fromkeys(gone))
                        if self.two_way is not None:
                            self.two_way.forget_deleted(conn, gone)
                        self.state.counters.add(
                            conn, self.name, deleted=count, campaign_writes=count
                        )
                        deleted += count
            self.state.snapshots.close(info.id)
            # The full read saw every record that existed when it started: deletions before
            # then need no tombstone any more.
            self.state.tombstones.prune(self.name, info.started_at)
            logger.info("%s: snapshot %s complete (%d rows removed)", self.name, info.id, deleted)
        return deleted


@dataclass(slots=True)
class _Batch:
    """Changes of one kind (snapshot or not) converted, before the transaction that writes them."""

    changes: Sequence[Change]
    full: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    left_filters: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int | None] = field(default_factory=dict)
    #: (change, reject code, message)
    rejects: list[tuple[Change, str, str]] = field(default_factory=list)
    filtered: int = 0


def _newer(a: int | None, b: int | None) -> int | None:
    """The higher of two optional versions."""
    if a is None:
        return b
    return a if b is None else max(a, b)


def _newer_than(version: int | None, than: int | None) -> bool:
    """Whether ``version`` is known to be newer than ``than`` (``None``: unknown)."""
    return version is not None and than is not None and version > than


def _newer_than_held(change: Change, held: Change | None) -> bool:
    """Whether ``change`` is at least as new as ``held`` (the later one wins a tie)."""
    if held is None:
        return True
    version, before = version_number(change.version), version_number(held.version)
    return version is None or before is None or version >= before


def _upserted(message: ChangeMessage) -> list[str]:
    """The keys of the records ``message`` upserts."""
    return [change.id for change in message.changes if change.kind == "upsert"]


def _parked_change(payload: Mapping[str, Any]) -> Change:
    return Change(
        "upsert",
        str(payload["id"]),
        payload.get("version"),
        payload.get("values") or {},
        payload.get("formatted") or {},
    )
