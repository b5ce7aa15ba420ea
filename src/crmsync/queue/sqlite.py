"""The embedded change queue: one SQLite file, one row per message.

Durability: the file is in WAL mode and every call is one transaction. With ``synchronous=FULL``
(the default) a commit is fsynced before :meth:`SQLiteQueue.publish` returns, so a published
message survives a kill -9 *and* a power loss; this matters because a reader saves its CRM cursor
right after publishing, and from then on the queue holds the only copy of those changes.
``synchronous="NORMAL"`` skips the per-commit fsync: still safe against a killed process (the WAL
is written before the commit returns), but an OS crash or power loss may lose the last commits.
Publishes are batched, so FULL costs one fsync per batch, not per message.

Concurrency: any number of queues (in this or other processes) may open the same file. Fetching
leases messages with one ``UPDATE … RETURNING`` inside ``BEGIN IMMEDIATE``, so two consumers never
hold the same message at once. SQL text is assembled from constant fragments only (hence the
``S608`` exemptions); values are always bound parameters. Blocking SQLite work runs on one thread
per queue (its own connection), never on the event loop: an fsync can take milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

from crmsync.queue.base import (
    ChangeMessage,
    DeadLetter,
    Delivery,
    decode_changes,
    encode_changes,
)
from crmsync.queue.errors import QueueClosedError, QueueError
from crmsync.sqlite_locks import use_wal

__all__ = ["SQLiteQueue"]

_T = TypeVar("_T")
_SCHEMA_VERSION = 1
_BUSY_TIMEOUT_MS = 10_000
_BATCH = 500  # parameters per statement stay far below SQLite's limit
_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    mapping TEXT NOT NULL,
    snapshot TEXT,
    change_count INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    visible_at REAL NOT NULL,
    lease TEXT,
    last_error TEXT,
    published_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (visible_at);
CREATE INDEX IF NOT EXISTS queue_messages_mapping ON queue_messages (mapping, visible_at);
-- Payloads live apart so that leasing a message rewrites a small row, not hundreds of kilobytes.
CREATE TABLE IF NOT EXISTS queue_payloads (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL);
CREATE TRIGGER IF NOT EXISTS queue_messages_drop_payload AFTER DELETE ON queue_messages
BEGIN DELETE FROM queue_payloads WHERE seq = old.seq; END;
CREATE TABLE IF NOT EXISTS queue_dead_letters (
    seq INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    mapping TEXT NOT NULL,
    snapshot TEXT,
    change_count INTEGER NOT NULL,
    payload BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    failed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_dead_letters_mapping ON queue_dead_letters (mapping);
"""
_TO_DEAD = """
INSERT INTO queue_dead_letters
    (message_id, mapping, snapshot, change_count, payload, attempts, reason, failed_at)
SELECT message_id, mapping, snapshot, change_count,
       (SELECT payload FROM queue_payloads WHERE queue_payloads.seq = queue_messages.seq), attempts,
       COALESCE(last_error, 'not acknowledged after ' || attempts || ' deliveries'), ?
FROM queue_messages
"""


class SQLiteQueue:
    """A :class:`~crmsync.queue.base.ChangeQueue` in the SQLite file at ``path``.

    ``ack_wait_seconds``: how long a fetched message stays invisible before it is redelivered.
    ``max_deliver``: deliveries after which an unacknowledged message becomes a dead letter.
    ``poll_seconds``: how often ``fetch(wait_seconds=…)`` looks again for messages published by
    other queues (publishes through this object wake it at once). ``clock`` gives wall-clock
    seconds; visibility times are stored, so they must be comparable across processes.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        ack_wait_seconds: float = 60.0,
        max_deliver: int = 20,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        poll_seconds: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ack_wait_seconds <= 0:
            raise ValueError("ack_wait_seconds must be positive")
        if max_deliver < 1:
            raise ValueError("max_deliver must be at least 1")
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be 'FULL' or 'NORMAL'")
        self.path = Path(path)
        self.ack_wait_seconds = ack_wait_seconds
        self.max_deliver = max_deliver
        self._poll_seconds = poll_seconds
        self._clock = clock
        self._published = asyncio.Event()
        self._closed = False
        self._conn = _open(self.path, synchronous)
        # One thread owns all work on the connection: calls are serialised without locks.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crmsync-queue")

    # -- plumbing -------------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._closed:
            raise QueueClosedError(f"queue {self.path} is closed")
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # -- ChangeQueue ----------------------------------------------------------------------------

    async def publish(self, messages: Sequence[ChangeMessage]) -> list[str]:
        if not messages:
            return []
        ids = await self._run(self._publish, messages)
        self._published.set()
        return ids

    def _publish(self, messages: Sequence[ChangeMessage]) -> list[str]:
        payloads = [encode_changes(message.mapping, message.changes) for message in messages]
        rows = [
            (uuid.uuid4().hex, message.mapping, message.snapshot, len(message.changes))
            for message in messages
        ]
        self._write(lambda conn: _insert(conn, rows, payloads, self._clock()))
        return [row[0] for row in rows]

    async def fetch(
        self, mapping: str | None = None, *, max_messages: int = 10, wait_seconds: float = 0.0
    ) -> list[Delivery]:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while True:
            self._published.clear()
            deliveries = await self._run(self._fetch, mapping, max_messages)
            remaining = deadline - time.monotonic()
            if deliveries or remaining <= 0:
                return deliveries
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._published.wait(), timeout=min(self._poll_seconds, remaining)
                )

    def _fetch(self, mapping: str | None, max_messages: int) -> list[Delivery]:
        now = self._clock()
        lease = uuid.uuid4().hex
        where, params = _visible(mapping, now)

        def lease_rows(conn: sqlite3.Connection) -> list[Any]:
            exhausted = f"{where} AND attempts >= ?"
            conn.execute(f"{_TO_DEAD} WHERE {exhausted}", (now, *params, self.max_deliver))
            conn.execute(
                f"DELETE FROM queue_messages WHERE {exhausted}",  # noqa: S608
                (*params, self.max_deliver),
            )
            leased = conn.execute(
                "UPDATE queue_messages SET attempts = attempts + 1, visible_at = ?, lease = ?"  # noqa: S608
                f" WHERE seq IN (SELECT seq FROM queue_messages WHERE {where}"
                " ORDER BY visible_at LIMIT ?)"
                " RETURNING seq, message_id, mapping, snapshot, attempts",
                (now + self.ack_wait_seconds, lease, *params, max_messages),
            ).fetchall()
            payloads: dict[int, bytes] = {}
            for start in range(0, len(leased), _BATCH):
                seqs = [row[0] for row in leased[start : start + _BATCH]]
                marks = ",".join("?" * len(seqs))
                payloads.update(
                    conn.execute(
                        f"SELECT seq, payload FROM queue_payloads WHERE seq IN ({marks})",  # noqa: S608
                        seqs,
                    ).fetchall()
                )
            return [(*row, payloads.get(row[0], b"")) for row in leased]

        rows = self._write(lease_rows)
        deliveries: list[Delivery] = []
        undecodable: list[tuple[str, int, str]] = []
        for seq, message_id, row_mapping, snapshot, attempts, payload in rows:
            try:
                changes = decode_changes(payload)
            except QueueError as exc:
                undecodable.append((exc.message, seq, lease))
                continue
            message = ChangeMessage(row_mapping, changes, snapshot, message_id)
            deliveries.append(Delivery(message, attempts, f"{seq}:{lease}"))
        if undecodable:
            self._write(lambda conn: _bury(conn, undecodable, now))
        return deliveries

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        leases = _leases(deliveries)
        if leases:
            await self._run(self._ack, leases)

    def _ack(self, leases: list[tuple[int, str]]) -> None:
        self._write(
            lambda conn: conn.executemany(
                "DELETE FROM queue_messages WHERE seq = ? AND lease = ?", leases
            )
        )

    async def nack(
        self,
        deliveries: Sequence[Delivery],
        *,
        delay_seconds: float = 0.0,
        reason: str | None = None,
    ) -> None:
        leases = _leases(deliveries)
        if leases:
            await self._run(self._nack, leases, max(delay_seconds, 0.0), reason)
            if delay_seconds <= 0:
                self._published.set()

    def _nack(self, leases: list[tuple[int, str]], delay: float, reason: str | None) -> None:
        now = self._clock()

        def give_back(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE queue_messages SET visible_at = ?, lease = NULL,"
                " last_error = COALESCE(?, last_error) WHERE seq = ? AND lease = ?",
                [(now + delay, reason, seq, lease) for seq, lease in leases],
            )
            # A message that has had all its deliveries is buried now rather than at next fetch.
            seqs = [(seq, self.max_deliver) for seq, _ in leases]
            exhausted = "seq = ? AND lease IS NULL AND attempts >= ?"
            conn.executemany(f"{_TO_DEAD} WHERE {exhausted}", [(now, *s) for s in seqs])
            conn.executemany(f"DELETE FROM queue_messages WHERE {exhausted}", seqs)  # noqa: S608

        self._write(give_back)

    async def backlog(self, mapping: str | None = None) -> int:
        return await self._run(self._sum, "queue_messages", "SUM(change_count)", mapping)

    async def dead_letter_count(self, mapping: str | None = None) -> int:
        return await self._run(self._sum, "queue_dead_letters", "COUNT(*)", mapping)

    def _sum(self, table: str, aggregate: str, mapping: str | None) -> int:
        sql = f"SELECT COALESCE({aggregate}, 0) FROM {table}"  # noqa: S608 -- constants only
        if mapping is None:
            row = self._conn.execute(sql).fetchone()
        else:
            row = self._conn.execute(f"{sql} WHERE mapping = ?", (mapping,)).fetchone()
        return int(row[0])

    async def purge(self, mapping: str) -> int:
        return await self._run(self._purge, mapping)

    def _purge(self, mapping: str) -> int:
        return self._write(
            lambda conn: (
                conn.execute("DELETE FROM queue_messages WHERE mapping = ?", (mapping,)).rowcount
            )
        )

    async def forget(self, mapping: str, ids: Collection[str]) -> int:
        """Remove the changes of the records ``ids`` from the messages of ``mapping``, waiting,
        leased or dead-lettered (a privacy delete: their values must not stay on disk). A
        message keeps its place and id, its other changes, and counts in its snapshot even when
        none is left. Returns how many changes were removed."""
        return await self._run(self._forget, mapping, frozenset(ids))

    def _forget(self, mapping: str, ids: frozenset[str]) -> int:
        if not ids:
            return 0
        # A payload that does not hold an id's JSON text holds none of its changes.
        needles = [orjson.dumps(record_id) for record_id in ids]

        def rewrite(conn: sqlite3.Connection) -> int:
            removed = 0
            found = conn.execute(
                "SELECT p.seq, p.payload FROM queue_payloads p"
                " JOIN queue_messages m ON m.seq = p.seq WHERE m.mapping = ?",
                (mapping,),
            ).fetchall()
            dead = conn.execute(
                "SELECT seq, payload FROM queue_dead_letters WHERE mapping = ?", (mapping,)
            ).fetchall()
            for table, rows in (("queue_payloads", found), ("queue_dead_letters", dead)):
                for seq, payload in rows:
                    if not any(needle in payload for needle in needles):
                        continue
                    changes = decode_changes(payload)
                    kept = [change for change in changes if change.id not in ids]
                    if len(kept) == len(changes):
                        continue
                    removed += len(changes) - len(kept)
                    conn.execute(
                        f"UPDATE {table} SET payload = ? WHERE seq = ?",  # noqa: S608
                        (encode_changes(mapping, kept), seq),
                    )
                    counted = "queue_messages" if table == "queue_payloads" else table
                    conn.execute(
                        f"UPDATE {counted} SET change_count = ? WHERE seq = ?",  # noqa: S608
                        (len(kept), seq),
                    )
            return removed

        return self._write(rewrite)

    async def dead_letters(
        self, mapping: str | None = None, *, limit: int = 100
    ) -> list[DeadLetter]:
        return await self._run(self._dead_letters, mapping, limit)

    def _dead_letters(self, mapping: str | None, limit: int) -> list[DeadLetter]:
        sql = (
            "SELECT message_id, mapping, snapshot, payload, attempts, reason, failed_at"
            " FROM queue_dead_letters"
        )
        params: tuple[Any, ...] = ()
        if mapping is not None:
            sql += " WHERE mapping = ?"
            params = (mapping,)
        out = []
        for (
            message_id,
            row_mapping,
            snapshot,
            payload,
            attempts,
            reason,
            failed_at,
        ) in self._conn.execute(f"{sql} ORDER BY seq LIMIT ?", (*params, limit)):
            try:
                changes = decode_changes(payload)
            except QueueError:
                changes = []
            out.append(
                DeadLetter(
                    ChangeMessage(row_mapping, changes, snapshot, message_id),
                    attempts,
                    reason,
                    datetime.fromtimestamp(failed_at, UTC),
                )
            )
        return out

    async def retry_dead_letters(self, mapping: str | None = None) -> int:
        """Put dead letters (of ``mapping``, or all) back in the queue with a fresh delivery
        count, e.g. after the cause was fixed. Returns how many messages."""
        count = await self._run(self._retry_dead_letters, mapping)
        if count:
            self._published.set()
        return count

    def _retry_dead_letters(self, mapping: str | None) -> int:
        now = self._clock()
        where, params = ("mapping = ?", (mapping,)) if mapping is not None else ("1 = 1", ())

        def requeue(conn: sqlite3.Connection) -> int:
            dead = conn.execute(
                "SELECT message_id, mapping, snapshot, change_count, payload"  # noqa: S608
                f" FROM queue_dead_letters WHERE {where} ORDER BY seq",
                params,
            ).fetchall()
            _insert(conn, [row[:4] for row in dead], [row[4] for row in dead], now)
            conn.execute(f"DELETE FROM queue_dead_letters WHERE {where}", params)  # noqa: S608
            return len(dead)

        return self._write(requeue)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._thread, self._conn.close)
        self._thread.shutdown(wait=True)

    async def __aenter__(self) -> SQLiteQueue:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


def _open(path: Path, synchronous: str) -> sqlite3.Connection:
    try:
        # Autocommit at the driver: transactions are explicit (BEGIN IMMEDIATE … COMMIT).
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise QueueError(f"queue file {path} cannot be opened: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS:d}")
        use_wal(conn)
        conn.execute(f"PRAGMA synchronous={synchronous}")  # checked against two constants
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            raise QueueError(
                f"queue file {path} has format version {version}; this crmsync knows"
                f" {_SCHEMA_VERSION}: upgrade crmsync"
            )
        conn.executescript(
            f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version={_SCHEMA_VERSION};COMMIT;"
        )
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise QueueError(f"queue file {path} is not a usable SQLite queue: {exc}") from None
    except QueueError:
        conn.close()
        raise
    return conn


def _insert(
    conn: sqlite3.Connection,
    rows: Sequence[tuple[str, str, str | None, int]],
    payloads: Sequence[bytes],
    now: float,
) -> None:
    """Insert messages ``(message_id, mapping, snapshot, change_count)`` and their payloads."""
    # executemany cannot return the new rowids, so the sequence numbers are chosen here, inside
    # the caller's BEGIN IMMEDIATE (no other writer can interleave).
    first = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM queue_messages").fetchone()[0]
    seqs = range(first, first + len(rows))
    conn.executemany(
        "INSERT INTO queue_messages (seq, message_id, mapping, snapshot, change_count,"
        " visible_at, published_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(seq, *row, now, now) for seq, row in zip(seqs, rows, strict=True)],
    )
    conn.executemany(
        "INSERT INTO queue_payloads (seq, payload) VALUES (?, ?)",
        zip(seqs, payloads, strict=True),
    )


def _visible(mapping: str | None, now: float) -> tuple[str, tuple[Any, ...]]:
    if mapping is None:
        return "visible_at <= ?", (now,)
    return "mapping = ? AND visible_at <= ?", (mapping, now)


def _leases(deliveries: Iterable[Delivery]) -> list[tuple[int, str]]:
    """(seq, lease) of each token; tokens this queue did not issue are ignored."""
    out = []
    for delivery in deliveries:
        seq, _, lease = delivery.token.partition(":")
        if seq.isdigit() and lease:
            out.append((int(seq), lease))
    return out


def _bury(conn: sqlite3.Connection, rows: list[tuple[str, int, str]], now: float) -> None:
    """Move undecodable leased messages to the dead letters, with the decoding error."""
    conn.executemany("UPDATE queue_messages SET last_error = ? WHERE seq = ? AND lease = ?", rows)
    keys = [(seq, lease) for _, seq, lease in rows]
    conn.executemany(f"{_TO_DEAD} WHERE seq = ? AND lease = ?", [(now, *k) for k in keys])
    conn.executemany("DELETE FROM queue_messages WHERE seq = ? AND lease = ?", keys)
