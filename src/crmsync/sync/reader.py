"""The inbound reader of one table mapping: CRM change tracking → the durable queue.

One :meth:`MappingReader.round` reads every change since the saved cursor (a full snapshot when
there is none), publishes them in chunks of at most ``chunk_size`` changes, and saves the new
cursor only after every chunk of the round has been published: the queue is durable on return
from ``publish``, so a reader killed at any point reads again from the last saved cursor and
loses nothing (what it publishes twice, the version-guarded writer applies once).

Each deletion is stamped with a version: the highest record version the reader has seen for the
mapping so far (its *watermark*, saved with the cursor). The deletion happened before the page
that reports it was read, so every version seen up to then is older than any later re-creation of
the same record: the writer keeps it as a tombstone that stops older upserts delivered late, and
deletes no row newer than it. A deletion whose time the CRM reports (Salesforce) is stamped no
later than the end of that second (:func:`deletion_version`).

A saved cursor is only good for the fields it was taken with (a Dataverse delta link carries its
``$select``): it is saved with a signature of the table and fields, and a mapping whose fields
changed since (a field added to it) starts again with a snapshot instead of reading new changes
without the new field.

Reading a mapping is leased (:mod:`crmsync.runtime.workers`): with a ``fence``, each cursor save
and each snapshot start and finish checks, in its own transaction, that this process still holds
the mapping's lease, and a reader that lost it (paused, cut off, its lease taken over) stops with
:class:`~crmsync.state.errors.LeaseLostError` having saved nothing.

Snapshot rounds are recorded in :class:`~crmsync.state.snapshots.Snapshots` (which messages
belong to the snapshot) so that, once every one of them is applied, the writer can delete the
Campaign rows whose CRM record no longer exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from crmsync.connectors.base import ChangePage, Connector, Deletion, Record
from crmsync.queue.base import Change, ChangeMessage, ChangeQueue
from crmsync.runtime.connectors import calls_made
from crmsync.state.part import Fence
from crmsync.state.store import StateStore
from crmsync.sync.fingerprints import Fingerprints
from crmsync.sync.transform import CompiledMapping
from crmsync.sync.write_loop import with_retries
from crmsync.sync.writer import version_number

__all__ = [
    "DEFAULT_CHUNK",
    "MappingReader",
    "RoundResult",
    "cursor_signature",
    "deletion_version",
]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Changes per queue message: big enough to batch writes, small enough to redeliver cheaply.
DEFAULT_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class RoundResult:
    """What one reading round did."""

    changes: int
    messages: int
    snapshot: bool
    crm_calls: int


class MappingReader:
    """Reads one mapping's CRM table into the queue.

    ``with_formatted``: keep the CRM's display labels in the messages (only mappings that write
    picklist display values need them; dropping them keeps the queue small).
    """

    def __init__(
        self,
        compiled: CompiledMapping,
        connector: Connector,
        queue: ChangeQueue,
        state: StateStore,
        *,
        with_formatted: bool,
        chunk_size: int = DEFAULT_CHUNK,
        on_read: Callable[[str, int], None] | None = None,
        lock: threading.Lock | None = None,
        fingerprints: Fingerprints | None = None,
        on_unchanged: Callable[[str, int], None] | None = None,
        fence: Fence | None = None,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.compiled = compiled
        self.connector = connector
        self.queue = queue
        self.state = state
        self.with_formatted = with_formatted
        self.chunk_size = chunk_size
        self._on_read = on_read
        self._lock = lock or threading.Lock()
        #: With fingerprints, a snapshot publishes no change for records whose rows hold them.
        self.fingerprints = fingerprints
        self._on_unchanged = on_unchanged
        #: Checked in the transaction of each cursor and snapshot save (the mapping's lease).
        self.fence = fence

    async def _state(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run a state call in a thread, holding the store lock the writer also takes: SQLite
        refuses a write transaction whose snapshot another connection has moved on (and again
        when a writer process did so)."""

        def call() -> _T:
            with self._lock:
                return with_retries(fn, *args)

        return await asyncio.to_thread(call)

    @property
    def name(self) -> str:
        return self.compiled.name

    async def round(self) -> RoundResult:
        """Read and publish every change since the saved cursor; save the new cursor."""
        name = self.name
        cursor = self._own_cursor(await self._state(self.state.cursors.load, name))
        watermark = await self._state(self.state.cursors.watermark, name)
        calls_before = calls_made(self.connector)
        snapshot_id: str | None = None
        changes = messages = 0
        pages = self.connector.track_changes(
            self.compiled.crm_table,
            self.compiled.crm_fields,
            cursor,
            formatted=self.with_formatted,
        )
        async for page in _read_ahead(pages):
            if page.snapshot and snapshot_id is None:
                start = functools.partial(self.state.snapshots.start, fence=self.fence)
                snapshot_id = await self._state(start, name)
                logger.info("%s: reading the CRM table in full (snapshot %s)", name, snapshot_id)
            for record in page.records:
                version = version_number(record.version)
                if version is not None and (watermark is None or version > watermark):
                    watermark = version
            published = await self._publish(page, snapshot_id if page.snapshot else None, watermark)
            messages += len(published)
            count = len(page.records) + len(page.deletions)
            changes += count
            if count and self._on_read is not None:
                self._on_read(name, count)
            if page.cursor is not None:
                # Everything of the round is in the queue now: the cursor may move on.
                saved = f"{self.signature}{page.cursor}"
                save = functools.partial(self.state.cursors.save, fence=self.fence)
                await self._state(save, name, saved, watermark)
                if snapshot_id is not None:
                    finish = functools.partial(self.state.snapshots.finish, fence=self.fence)
                    await self._state(finish, snapshot_id, messages)
        crm_calls = calls_made(self.connector) - calls_before
        if crm_calls:
            await self._state(self._count_calls, crm_calls)
        return RoundResult(changes, messages, snapshot_id is not None, crm_calls)

    @property
    def signature(self) -> str:
        """The prefix of this mapping's saved cursors: the table and fields they were read with."""
        return cursor_signature(self.compiled)

    def _own_cursor(self, saved: str | None) -> str | None:
        """The connector cursor saved for the current fields, or ``None`` (a snapshot)."""
        if saved is None:
            return None
        if saved.startswith(self.signature):
            return saved[len(self.signature) :]
        logger.warning(
            "%s: the mapping's CRM table or fields changed since the last read: "
            "reading the table in full",
            self.name,
        )
        return None

    def _count_calls(self, crm_calls: int) -> None:
        with self.state.engine.begin() as conn:
            self.state.counters.add(conn, self.name, crm_calls=crm_calls)

    async def _publish(
        self, page: ChangePage, snapshot_id: str | None, watermark: int | None
    ) -> list[str]:
        records: Sequence[Record] = page.records
        digests = self._digests(records)
        if snapshot_id is not None and digests is not None and records:
            records, digests = await self._skip_unchanged(records, digests, snapshot_id)
        marks: Sequence[int | None] = digests if digests is not None else [None] * len(records)
        labels = self.with_formatted
        changes = [
            Change("upsert", r.id, r.version, r.values, r.formatted if labels else {}, digest)
            for r, digest in zip(records, marks, strict=True)
        ]
        # A record the page holds is there now: a deletion of it the page also reports is of an
        # earlier life (deleted, then created again with the same id) and is left out; stamped
        # with a watermark that includes the new life's version, it would delete that too.
        live = {record.id for record in page.records} if page.deletions else set()
        changes.extend(
            Change("delete", d.id, deletion_version(d, watermark))
            for d in page.deletions
            if d.id not in live
        )
        chunks: Sequence[ChangeMessage] = [
            ChangeMessage(self.name, changes[start : start + self.chunk_size], snapshot_id)
            for start in range(0, len(changes), self.chunk_size)
        ]
        if not chunks:
            return []
        ids = await self.queue.publish(chunks)
        if snapshot_id is not None:
            await self._state(self.state.snapshots.record_messages, snapshot_id, ids)
        return ids

    def _digests(self, records: Sequence[Record]) -> list[int] | None:
        """The fingerprint digests of ``records`` (as queued: display labels only when the
        mapping writes them), computed once here: the writer records them with the rows it
        writes, and a snapshot compares them with the fingerprints held."""
        if self.fingerprints is None:
            return None
        digest, labels = self.fingerprints.digest, self.with_formatted
        empty: dict[str, str] = {}
        return [digest(r.values, r.formatted if labels else empty) for r in records]

    async def _skip_unchanged(
        self, records: Sequence[Record], digests: list[int], snapshot_id: str
    ) -> tuple[list[Record], list[int]]:
        """The records of a snapshot page that need a message, with their digests: not those
        whose Campaign row holds them already (their fingerprint matches), which are counted
        and seen here."""
        held = await self._state(self._held, [record.id for record in records])
        if not held:
            return list(records), digests
        kept: list[Record] = []
        kept_digests: list[int] = []
        same: list[str] = []
        for record, digest in zip(records, digests, strict=True):
            version = version_number(record.version)
            if version is not None and held.get(record.id) == (version, digest):
                same.append(record.id)
            else:
                kept.append(record)
                kept_digests.append(digest)
        await self._state(self.state.snapshots.note_unchanged, self.name, snapshot_id, same)
        if same and self._on_unchanged is not None:
            self._on_unchanged(self.name, len(same))
        return kept, kept_digests

    def _held(self, keys: Sequence[str]) -> dict[str, tuple[int, int]]:
        assert self.fingerprints is not None
        with self.state.engine.connect() as conn:
            return self.fingerprints.held(conn, keys)


def cursor_signature(compiled: CompiledMapping) -> str:
    """The prefix of a mapping's saved cursors: the table and fields they were read with."""
    read = "\n".join([compiled.crm_table, *sorted(compiled.crm_fields)])
    return f"fields-{hashlib.sha256(read.encode()).hexdigest()[:16]};"


def deletion_version(deletion: Deletion, watermark: int | None) -> int | None:
    """The version ``deletion`` is stamped with: the ``watermark`` (every version read so far),
    and, when the CRM says when the record was deleted (Salesforce), no later than the end of
    that second.

    Every version of the record before its deletion lies within that second or earlier (a
    version raised for a second change within one timestamp stays in it), and an undelete in a
    later second has a higher one, even when the delete log reports the deletion minutes later,
    after the watermark has passed the undelete: the writer's version guard then keeps the
    record undeleted."""
    deleted_at = deletion.deleted_at
    if deleted_at is None or deleted_at.tzinfo is None:
        return watermark
    end = int(deleted_at.timestamp()) * 1_000_000 + 999_999
    return end if watermark is None else min(watermark, end)


async def _read_ahead(pages: AsyncIterator[ChangePage]) -> AsyncIterator[ChangePage]:
    """``pages`` in order, the next one requested while the current one is handled (the CRM
    prepares a page while this process publishes the previous one). One page ahead at most."""
    ahead: asyncio.Queue[ChangePage | BaseException | None] = asyncio.Queue(maxsize=1)

    async def produce() -> None:
        try:
            async for page in pages:
                await ahead.put(page)
        except Exception as exc:  # handed to the consumer, raised there
            await ahead.put(exc)
            return
        await ahead.put(None)

    producer = asyncio.create_task(produce())
    try:
        while (item := await ahead.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
