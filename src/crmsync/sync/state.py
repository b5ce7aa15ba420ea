"""The inbound engine's persistent state, in the Campaign store database.

One :class:`SyncState` per engine; each method is one transaction. Methods that take a
``conn`` run inside the caller's transaction, so that what they record commits (or rolls back)
together with the writes it describes: the applied keys of a snapshot message, counters, rejects
and parked children go with the Campaign rows of the same batch.

Durable work moves through explicit states, one method per transition:

- cursor: saved only after everything read up to it has been published (``save_cursor``);
- snapshot: started → (messages recorded, applied in any order, each once) → finished → ready →
  closed; starting a new snapshot of a mapping abandons its unfinished ones;
- parked child: parked → released (``unpark``) | rejected as ``PARENT_MISSING``;
- replay request: pending → taken (at most one pending per mapping).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from crmsync.state.upgrade import ensure_store_schema
from crmsync.store.writes import dialect_insert
from crmsync.sync.state_models import (
    Counts,
    ReplayRefused,
    ReplayRequest,
    SnapshotInfo,
    WorkflowState,
    WorkflowStatus,
)
from crmsync.sync.state_records import RecordsState
from crmsync.sync.state_tables import COUNTER_NAMES, state_tables

__all__ = ["DEFAULT_REPLAY_LIMIT", "SyncState"]

DEFAULT_REPLAY_LIMIT = 2_000_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SyncState(RecordsState):
    """The engine's state tables (``crmsync_*``) in ``engine``'s database, upgraded on open.

    Rejects and parked children come from :class:`~crmsync.sync.state_records.RecordsState`.
    """

    def __init__(self, engine: sa.Engine, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.engine = engine
        self.tables = state_tables()
        self._clock = clock
        ensure_store_schema(engine)

    def _insert(self, conn: sa.Connection, table: sa.Table) -> Any:
        """INSERT with ``ON CONFLICT`` support for the connection's database."""
        return dialect_insert(conn.dialect.name, table)

    # -- cursors --------------------------------------------------------------------------------

    def load_cursor(self, mapping: str) -> str | None:
        """The saved change-tracking cursor of ``mapping`` (``None``: start with a snapshot)."""
        t = self.tables.cursors
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(t.c.cursor).where(t.c.mapping == mapping))

    def save_cursor(self, mapping: str, cursor: str, watermark: int | None = None) -> None:
        """Save the cursor after every change read up to it has been published, with the
        highest record version read so far (``watermark``: it only grows)."""
        t = self.tables.cursors
        with self.engine.begin() as conn:
            if watermark is not None:
                self._raise_watermark(conn, mapping, watermark)
            stmt = self._insert(conn, t).values(
                mapping=mapping, cursor=cursor, updated_at=self._clock()
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.c.mapping],
                    set_={"cursor": stmt.excluded.cursor, "updated_at": stmt.excluded.updated_at},
                )
            )

    def load_watermark(self, mapping: str) -> int | None:
        """The highest record version of ``mapping`` saved with a cursor (``None``: none yet)."""
        t = self.tables.watermarks
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(t.c.version).where(t.c.mapping == mapping))

    def _raise_watermark(self, conn: sa.Connection, mapping: str, version: int) -> None:
        t = self.tables.watermarks
        stmt = self._insert(conn, t).values(mapping=mapping, version=version)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.c.mapping],
                set_={"version": stmt.excluded.version},
                where=t.c.version < stmt.excluded.version,
            )
        )

    def clear_cursor(self, mapping: str) -> None:
        """Forget the cursor: the next read is a snapshot (replay, expired tracking)."""
        t = self.tables.cursors
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.mapping == mapping))

    def cursor_updated_at(self, mapping: str) -> datetime | None:
        t = self.tables.cursors
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(t.c.updated_at).where(t.c.mapping == mapping))

    # -- snapshots ------------------------------------------------------------------------------

    def start_snapshot(self, mapping: str) -> str:
        """Start a full-read generation of ``mapping``; its unfinished ones are abandoned."""
        t = self.tables.snapshots
        snapshot_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
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

    def record_snapshot_message(self, snapshot_id: str, message_id: str) -> None:
        """Note that ``message_id`` (published) belongs to the snapshot."""
        self.record_snapshot_messages(snapshot_id, [message_id])

    def record_snapshot_messages(self, snapshot_id: str, message_ids: Sequence[str]) -> None:
        t = self.tables.snapshot_messages
        rows = [
            {"snapshot_id": snapshot_id, "message_id": m, "applied": False} for m in message_ids
        ]
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(self._insert(conn, t).on_conflict_do_nothing(), rows)

    def finish_snapshot(self, snapshot_id: str, total_messages: int) -> None:
        """The reader has published the snapshot's ``total_messages`` messages and saved the
        cursor of its last page."""
        t = self.tables.snapshots
        with self.engine.begin() as conn:
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
        if not self._add_seen_keys(conn, snapshot_id, keys):
            return False
        messages = self.tables.snapshot_messages
        stmt = self._insert(conn, messages).values(
            snapshot_id=snapshot_id, message_id=message_id, applied=True
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[messages.c.snapshot_id, messages.c.message_id],
                set_={"applied": True},
            )
        )
        return True

    def note_unchanged(self, mapping: str, snapshot_id: str | None, keys: Sequence[str]) -> None:
        """Records read again whose Campaign rows already hold them (no message was published
        for them): counted as read and unchanged, and seen by the snapshot, if it is open."""
        if not keys:
            return
        with self.engine.begin() as conn:
            self.add_counts(conn, mapping, read=len(keys), unchanged=len(keys))
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

    def snapshot(self, snapshot_id: str) -> SnapshotInfo | None:
        found = self._snapshots(self.tables.snapshots.c.id == snapshot_id)
        return found[0] if found else None

    def snapshots(self, mapping: str | None = None, *, closed: bool = False) -> list[SnapshotInfo]:
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

    def snapshot_ready(self, snapshot_id: str) -> bool:
        """Finished and every message applied (each counted once, in whatever order)."""
        info = self.snapshot(snapshot_id)
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
        seen by the snapshot, e.g. ``delete(t).where(t.c.key.is_not(None), state.unseen(s,
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

    def close_snapshot(self, snapshot_id: str) -> None:
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

    # -- counters -------------------------------------------------------------------------------

    def hold_mapping(self, conn: sa.Connection, mapping: str) -> None:
        """In a writer's transaction, first: take ``mapping``'s write lock (its counters row) until
        the transaction ends. The transactions that write one mapping's rows (applying messages,
        releasing parked children, reconciling a snapshot) take it, so that on PostgreSQL, with
        several writer processes, they run one after the other and each sees what the previous
        one committed (a delete weighed against the row it finds, an upsert against the
        tombstones). On SQLite it takes the database's write lock at once."""
        stmt = _add_counts(conn.dialect.name, self.tables.counters, ())
        conn.execute(stmt, {"mapping": mapping, "updated_at": self._clock()})

    def add_counts(self, conn: sa.Connection, mapping: str, **deltas: int) -> None:
        """In the writer's transaction: add ``deltas`` (e.g. ``inserted=3``) to the counters."""
        unknown = sorted(set(deltas) - set(COUNTER_NAMES))
        if unknown:
            raise ValueError(f"unknown counters {unknown}; known: {', '.join(COUNTER_NAMES)}")
        if not any(deltas.values()):
            return
        stmt = _add_counts(conn.dialect.name, self.tables.counters, tuple(deltas))
        conn.execute(stmt, {"mapping": mapping, "updated_at": self._clock(), **deltas})

    def counters(self, mapping: str | None = None) -> dict[str, Counts]:
        """Counters by mapping (only ``mapping``'s when given)."""
        t = self.tables.counters
        query = sa.select(t)
        if mapping is not None:
            query = query.where(t.c.mapping == mapping)
        with self.engine.connect() as conn:
            return {
                row.mapping: Counts(**{name: row._mapping[name] for name in COUNTER_NAMES})
                for row in conn.execute(query.order_by(t.c.mapping))
            }

    # -- replay requests (SPEC §3.6) ------------------------------------------------------------

    def request_replay(
        self,
        mapping: str,
        *,
        backlog: int,
        table_rows: int,
        limit_backlog: int = DEFAULT_REPLAY_LIMIT,
        limit_rows: int = DEFAULT_REPLAY_LIMIT,
    ) -> ReplayRequest:
        """Ask for a replay of ``mapping`` at the next start of ``inbound``.

        Refused (:class:`ReplayRefused`, saying which limit and the numbers) when the inbound
        ``backlog`` holds ``limit_backlog`` changes or more, when the CRM table holds
        ``limit_rows`` rows or more, or when a replay of the mapping is already pending.
        """
        if backlog >= limit_backlog:
            raise ReplayRefused(
                f"replay of '{mapping}' refused: the inbound backlog holds {backlog:,} changes,"
                f" the limit is {limit_backlog:,}; wait until it drains below the limit",
                code="REPLAY_BACKLOG_LIMIT",
                mapping=mapping,
                value=backlog,
                limit=limit_backlog,
            )
        if table_rows >= limit_rows:
            raise ReplayRefused(
                f"replay of '{mapping}' refused: the CRM table holds {table_rows:,} rows,"
                f" the limit is {limit_rows:,}",
                code="REPLAY_TABLE_LIMIT",
                mapping=mapping,
                value=table_rows,
                limit=limit_rows,
            )
        t = self.tables.replays
        with self.engine.begin() as conn:
            stmt = self._insert(conn, t).values(
                mapping=mapping,
                status="pending",
                requested_at=self._clock(),
                backlog=backlog,
                table_rows=table_rows,
                taken_at=None,
            )
            # One statement, so two concurrent requests cannot both succeed.
            row = conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.c.mapping],
                    set_={
                        name: stmt.excluded[name]
                        for name in ("status", "requested_at", "backlog", "table_rows", "taken_at")
                    },
                    where=t.c.status != "pending",
                ).returning(*t.c)
            ).first()
            if row is None:
                pending = conn.scalar(sa.select(t.c.requested_at).where(t.c.mapping == mapping))
                when = pending.isoformat() if pending is not None else "earlier"
                raise ReplayRefused(
                    f"a replay of '{mapping}' is already pending (requested {when});"
                    " it runs at the next start of inbound",
                    code="REPLAY_PENDING",
                    mapping=mapping,
                    value=None,
                    limit=None,
                )
        return _replay(row)

    def pending_replays(self) -> list[ReplayRequest]:
        t = self.tables.replays
        query = sa.select(t).where(t.c.status == "pending").order_by(t.c.requested_at)
        with self.engine.connect() as conn:
            return [_replay(row) for row in conn.execute(query)]

    def take_replay(self, mapping: str) -> ReplayRequest | None:
        """Mark the pending replay of ``mapping`` taken (the inbound workflow starts it);
        ``None`` when there is none. Only one caller can take a request."""
        t = self.tables.replays
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.update(t)
                .where(t.c.mapping == mapping, t.c.status == "pending")
                .values(status="taken", taken_at=self._clock())
                .returning(*t.c)
            ).first()
        return None if row is None else _replay(row)

    # -- workflow status ------------------------------------------------------------------------

    def set_status(
        self, workflow: str, status: WorkflowStatus | str, reason: str | None = None
    ) -> None:
        """Record a workflow's status (``reason``: why it FAILED, or any note)."""
        status = WorkflowStatus(status)
        t = self.tables.workflows
        with self.engine.begin() as conn:
            stmt = self._insert(conn, t).values(
                workflow=workflow, status=status.value, reason=reason, updated_at=self._clock()
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.c.workflow],
                    set_={
                        "status": stmt.excluded.status,
                        "reason": stmt.excluded.reason,
                        "updated_at": stmt.excluded.updated_at,
                    },
                )
            )

    def statuses(self) -> dict[str, WorkflowState]:
        """Every workflow's last recorded status, by workflow."""
        t = self.tables.workflows
        with self.engine.connect() as conn:
            return {
                row.workflow: WorkflowState(
                    row.workflow, WorkflowStatus(row.status), row.reason, row.updated_at
                )
                for row in conn.execute(sa.select(t).order_by(t.c.workflow))
            }


@functools.lru_cache(maxsize=64)
def _add_counts(dialect: str, counters: sa.Table, names: tuple[str, ...]) -> sa.Insert:
    """The upsert adding to counters ``names``, built once (the writer adds to its counters
    twice a transaction) and run with the mapping, the time and the deltas bound."""
    stmt = dialect_insert(dialect, counters)
    added = {name: counters.c[name] + stmt.excluded[name] for name in names}
    upsert: sa.Insert = stmt.on_conflict_do_update(
        index_elements=[counters.c.mapping], set_=added | {"updated_at": stmt.excluded.updated_at}
    )
    return upsert


def _replay(row: sa.Row[Any]) -> ReplayRequest:
    return ReplayRequest(
        row.mapping, row.status, row.requested_at, row.backlog, row.table_rows, row.taken_at
    )
