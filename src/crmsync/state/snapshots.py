"""Snapshots: full-read generations of a mapping, and the keys each has seen.

A snapshot moves started → (messages recorded, applied in any order, each once) → finished →
ready → closed; starting a new snapshot of a mapping abandons its unfinished ones. When it is
ready, the Campaign rows it did not see are the records gone from the CRM.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from crmsync.state.counters import Counters
from crmsync.state.models import SnapshotInfo
from crmsync.state.part import Clock, Fence, StatePart, utcnow
from crmsync.state.tables import StateTables

__all__ = ["Snapshots"]


class Snapshots(StatePart):
    """Snapshots (``crmsync_snapshots``), their messages and seen keys; records read unchanged
    are counted in ``counters``."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        tables: StateTables | None = None,
        clock: Clock = utcnow,
        counters: Counters | None = None,
    ) -> None:
        super().__init__(engine, tables=tables, clock=clock)
        self.counters = counters or Counters(engine, tables=self.tables, clock=clock)

    def start(self, mapping: str, *, fence: Fence | None = None) -> str:
        """Start a full-read generation of ``mapping``; its unfinished ones are abandoned.
        ``fence``: checks, in the same transaction, that the caller holds the mapping's lease
        (a reader that lost it must not abandon its successor's snapshot)."""
        t = self.tables.snapshots
        snapshot_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
            if fence is not None:
                fence(conn)
            unfinished = [
                row[0]
                for row in conn.execute(
                    sa.select(t.c.id).where(
                        t.c.mapping == mapping, t.c.finished_at.is_(None), t.c.closed_at.is_(None)
                    )
                )
            ]
            for old in unfinished:
                self._drop_snapshot(conn, old)
            conn.execute(
                sa.insert(t).values(id=snapshot_id, mapping=mapping, started_at=self._clock())
            )
        return snapshot_id

    def record_message(self, snapshot_id: str, message_id: str) -> None:
        """Note that ``message_id`` (published) belongs to the snapshot."""
        self.record_messages(snapshot_id, [message_id])

    def record_messages(self, snapshot_id: str, message_ids: Sequence[str]) -> None:
        t = self.tables.snapshot_messages
        rows = [
            {"snapshot_id": snapshot_id, "message_id": m, "applied": False} for m in message_ids
        ]
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(self._insert(conn, t).on_conflict_do_nothing(), rows)

    def finish(self, snapshot_id: str, total_messages: int, *, fence: Fence | None = None) -> None:
        """The reader has published the snapshot's ``total_messages`` messages and saved the
        cursor of its last page (``fence``: as :meth:`start`)."""
        t = self.tables.snapshots
        with self.engine.begin() as conn:
            if fence is not None:
                fence(conn)
            done = conn.execute(
                sa.update(t)
                .where(t.c.id == snapshot_id, t.c.closed_at.is_(None))
                .values(finished_at=self._clock(), total_messages=total_messages)
            )
            if done.rowcount != 1:
                raise ValueError(f"snapshot {snapshot_id} is unknown or closed")

    def mark_applied(
        self, conn: sa.Connection, snapshot_id: str, message_id: str, keys: Iterable[str]
    ) -> bool:
        """In the writer's transaction: message ``message_id`` of the snapshot was applied and
        contained ``keys``. Idempotent. ``False`` when the snapshot is unknown, abandoned or
        closed (nothing is stored then: its key set will never be used)."""
        return bool(self.mark_all_applied(conn, [(snapshot_id, message_id, keys)]))

    def mark_all_applied(
        self, conn: sa.Connection, applied: Sequence[tuple[str, str, Iterable[str]]]
    ) -> set[str]:
        """:meth:`mark_applied` of each (snapshot, message, keys) of ``applied``, in three
        statements whatever their number (the keys of one snapshot's messages stored as one
        set). Returns the snapshots that are open: the messages of the others are not stored."""
        if not applied:
            return set()
        snapshots = self.tables.snapshots
        wanted = sorted({snapshot_id for snapshot_id, _, _ in applied})
        is_open = set(
            conn.scalars(
                sa.select(snapshots.c.id).where(
                    snapshots.c.id.in_(wanted), snapshots.c.closed_at.is_(None)
                )
            )
        )
        keys: dict[str, list[str]] = {}
        for snapshot_id, _, message_keys in applied:
            if snapshot_id in is_open:
                keys.setdefault(snapshot_id, []).extend(message_keys)
        for snapshot_id, seen in keys.items():
            self._store_key_set(conn, [snapshot_id], seen)
        rows = [
            {"snapshot_id": snapshot_id, "message_id": message_id, "applied": True}
            for snapshot_id, message_id, _ in applied
            if snapshot_id in is_open
        ]
        if rows:
            messages = self.tables.snapshot_messages
            stmt = self._insert(conn, messages)
            upsert = stmt.on_conflict_do_update(
                index_elements=[messages.c.snapshot_id, messages.c.message_id],
                set_={"applied": True},
            )
            conn.execute(upsert, rows)
        return is_open

    def note_unchanged(self, mapping: str, snapshot_id: str | None, keys: Sequence[str]) -> None:
        """Records read again whose Campaign rows already hold them (no message was published
        for them): counted as read and unchanged, and seen by the snapshot, if it is open."""
        if not keys:
            return
        with self.engine.begin() as conn:
            self.counters.add(conn, mapping, read=len(keys), unchanged=len(keys))
            if snapshot_id is not None:
                self._add_seen_keys(conn, snapshot_id, keys)

    def _add_seen_keys(self, conn: sa.Connection, snapshot_id: str, keys: Iterable[str]) -> bool:
        snapshots = self.tables.snapshots
        is_open = conn.scalar(
            sa.select(sa.literal(1)).where(
                snapshots.c.id == snapshot_id, snapshots.c.closed_at.is_(None)
            )
        )
        if is_open is None:
            return False
        self._store_key_set(conn, [snapshot_id], keys)
        return True

    def note_seen(self, conn: sa.Connection, mapping: str, keys: Sequence[str]) -> None:
        """In the writer's transaction: records changed while snapshots of ``mapping`` are open
        exist in the CRM; every open snapshot has seen them (none reconciles them away)."""
        if not keys:  # a message of deletions only: nothing to look up
            return
        snapshots = self.tables.snapshots
        open_ids = list(
            conn.scalars(
                sa.select(snapshots.c.id).where(
                    snapshots.c.mapping == mapping, snapshots.c.closed_at.is_(None)
                )
            )
        )
        self._store_key_set(conn, open_ids, keys)

    def _store_key_set(
        self, conn: sa.Connection, snapshot_ids: Sequence[str], keys: Iterable[str]
    ) -> None:
        """``keys`` seen by each of ``snapshot_ids``: one row each, the keys as a JSON array
        (a key seen twice is harmless: the set is read for an anti-join)."""
        unique = list(dict.fromkeys(keys))
        if not unique or not snapshot_ids:
            return
        text = orjson.dumps(unique).decode()
        conn.execute(
            sa.insert(self.tables.snapshot_key_sets),
            [{"snapshot_id": snapshot_id, "key_list": text} for snapshot_id in snapshot_ids],
        )

    def get(self, snapshot_id: str) -> SnapshotInfo | None:
        found = self._snapshots(self.tables.snapshots.c.id == snapshot_id)
        return found[0] if found else None

    def all(self, mapping: str | None = None, *, closed: bool = False) -> list[SnapshotInfo]:
        """Snapshots (of ``mapping``), oldest first; closed ones only when ``closed``."""
        t = self.tables.snapshots
        conditions: list[sa.ColumnElement[bool]] = []
        if mapping is not None:
            conditions.append(t.c.mapping == mapping)
        if not closed:
            conditions.append(t.c.closed_at.is_(None))
        return self._snapshots(*conditions)

    def _snapshots(self, *conditions: sa.ColumnElement[bool]) -> list[SnapshotInfo]:
        t, m = self.tables.snapshots, self.tables.snapshot_messages
        applied = (
            sa.select(sa.func.count())
            .where(m.c.snapshot_id == t.c.id, m.c.applied.is_(True))
            .scalar_subquery()
        )
        query = sa.select(t, applied.label("applied")).where(*conditions).order_by(t.c.started_at)
        with self.engine.connect() as conn:
            return [
                SnapshotInfo(
                    row.id,
                    row.mapping,
                    row.started_at,
                    row.finished_at,
                    row.total_messages,
                    row.applied,
                    row.closed_at,
                )
                for row in conn.execute(query)
            ]

    def ready(self, snapshot_id: str) -> bool:
        """Finished and every message applied (each counted once, in whatever order)."""
        info = self.get(snapshot_id)
        return info is not None and info.ready

    def seen_keys_query(self, snapshot_id: str) -> sa.CompoundSelect[tuple[str]]:
        """The keys seen by the snapshot, as a SELECT: the database unpacks the key sets,
        nothing is loaded into Python."""
        set_keys, _ = self._set_keys(snapshot_id)
        legacy = self.tables.snapshot_keys
        # UNION, not UNION ALL: a message applied twice (redelivered) stored its keys twice.
        return sa.union(
            set_keys, sa.select(legacy.c.key).where(legacy.c.snapshot_id == snapshot_id)
        )

    def unseen(self, snapshot_id: str, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        """A condition on ``column`` (a key column of the statement's table): its value was not
        seen by the snapshot, e.g. ``delete(t).where(t.c.key.is_not(None), snapshots.unseen(s,
        t.c.key))``.

        SQLite hashes ``NOT IN (seen keys)`` once into a temporary index. PostgreSQL hashes such a
        subquery only when the planner expects it to fit in ``work_mem`` (and it cannot tell how
        many keys a key set holds), else it scans the keys again for every row: ``NOT EXISTS``,
        which it plans as an anti-join whatever the size, is used there instead."""
        if self.engine.dialect.name == "sqlite":
            return column.not_in(self.seen_keys_query(snapshot_id))
        set_keys, key = self._set_keys(snapshot_id)
        legacy = self.tables.snapshot_keys
        in_legacy = sa.select(legacy.c.key).where(
            legacy.c.snapshot_id == snapshot_id, legacy.c.key == column
        )
        return ~sa.exists(set_keys.where(key == column)) & ~sa.exists(in_legacy)

    def _set_keys(self, snapshot_id: str) -> tuple[sa.Select[tuple[str]], sa.ColumnElement[str]]:
        """The keys of the snapshot's key sets, unpacked by the database: the SELECT and its
        key column."""
        sets = self.tables.snapshot_key_sets
        if self.engine.dialect.name == "sqlite":
            each = sa.func.json_each(sets.c.key_list).table_valued("value")
        else:
            keys = sa.cast(sets.c.key_list, postgresql.JSONB)
            each = sa.func.jsonb_array_elements_text(keys).table_valued("value")
        query = (
            sa.select(each.c.value)
            .select_from(sets)
            .join(each, sa.true())
            .where(sets.c.snapshot_id == snapshot_id)
        )
        return query, each.c.value

    def close(self, snapshot_id: str) -> None:
        """Done with the snapshot (reconciled or abandoned): drop its keys, keep its history."""
        t = self.tables.snapshots
        with self.engine.begin() as conn:
            self._drop_keys(conn, snapshot_id)
            conn.execute(
                sa.update(t)
                .where(t.c.id == snapshot_id, t.c.closed_at.is_(None))
                .values(closed_at=self._clock())
            )

    def _drop_keys(self, conn: sa.Connection, snapshot_id: str) -> None:
        tables = self.tables
        for table in (tables.snapshot_key_sets, tables.snapshot_keys, tables.snapshot_messages):
            conn.execute(sa.delete(table).where(table.c.snapshot_id == snapshot_id))

    def _drop_snapshot(self, conn: sa.Connection, snapshot_id: str) -> None:
        self._drop_keys(conn, snapshot_id)
        t = self.tables.snapshots
        conn.execute(sa.delete(t).where(t.c.id == snapshot_id))
