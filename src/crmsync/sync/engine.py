"""The inbound workflow: readers (CRM → queue) and a writer (queue → Campaign store) in one process.

:class:`InboundEngine` opens everything the configuration names (store, queue, CRM connections),
compiles every table mapping against the CRM metadata (all problems reported at once, before
anything is written), then runs two loops side by side:

- the **reader loop** runs a change-tracking round of every mapping, then waits the poll interval;
- the **writer side** (:class:`~crmsync.sync.write_loop.WriteLoop`) fetches messages, applies each
  in one store transaction and acknowledges it after the commit; between messages it releases
  parked children whose parent arrived, reconciles complete snapshots and turns children parked
  too long into ``PARENT_MISSING`` rejects. With ``writer_processes`` it runs in that many
  processes of its own (:mod:`crmsync.sync.writer_process`), so that reading and writing use
  separate cores; the engine then watches them, reports their progress and does the final
  housekeeping once they have stopped.

With ``once`` the engine stops when a round finds no change and the backlog (queue and parked
children) is empty; children still waiting for a parent then are rejected, since no parent can
arrive any more in this run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from crmsync.config.errors import ConfigError, ConfigIssue
from crmsync.config.models import Config
from crmsync.connectors.base import Connector, TableInfo
from crmsync.errors import ConfigurationError, FatalError, RateLimitedError, TransientError
from crmsync.queue.base import ChangeQueue
from crmsync.runtime.connectors import open_connector
from crmsync.runtime.queues import open_queue
from crmsync.state.models import Counts, WorkflowStatus
from crmsync.state.store import StateStore
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile, publish
from crmsync.sync.progress import InboundProgress, NoProgress
from crmsync.sync.reader import MappingReader
from crmsync.sync.transform import CompiledMapping, compile_mapping
from crmsync.sync.write_loop import WriteLoop
from crmsync.sync.writer import WORKFLOW, MappingWriter, version_number
from crmsync.sync.writer_process import WriterProcesses, WriterSpec, two_way_merge
from crmsync.twoway.mapping import TwoWayMapping, two_way_mapping
from crmsync.twoway.push import CampaignPush
from crmsync.twoway.setup import prepare_two_way

__all__ = ["EngineOptions", "InboundEngine", "RunSummary"]

logger = logging.getLogger(__name__)

_READ_FAILURES = 5
#: How often the engine looks at its writer processes (failures, progress, drained queue).
_SUPERVISE_SECONDS = 0.2
#: How often the Campaign → CRM side of the two-way mappings looks for Campaign edits.
_PUSH_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Run-time knobs that are not part of the configuration file."""

    #: How long a fetched message stays invisible before it is delivered again.
    ack_wait_seconds: float = 30.0
    #: How long a child waits for its parent before it becomes a ``PARENT_MISSING`` reject.
    parent_wait_seconds: float = 300.0
    chunk_size: int = 1000
    #: Overrides ``inbound.poll_interval_seconds``.
    poll_interval_seconds: float | None = None
    #: Processes applying the queue's messages besides the engine's own: 0 writes in this
    #: process; SQLite takes one writer at a time, so 1 is the useful number there, PostgreSQL
    #: can take several.
    writer_processes: int = 0

    def __post_init__(self) -> None:
        if self.writer_processes < 0:
            raise ValueError("writer_processes must be 0 or more")


@dataclass(slots=True)
class RunSummary:
    """What a run did: the counts of this run alone by mapping (``crmsync status`` shows the
    totals), the records it rejected, the replays it took up."""

    counters: dict[str, Counts] = field(default_factory=dict)
    rejects: int = 0
    replays: list[str] = field(default_factory=list)


class InboundEngine:
    """The inbound workflow of one configuration; use ``async with`` or :meth:`open`/`close`."""

    def __init__(
        self,
        config: Config,
        *,
        options: EngineOptions | None = None,
        environ: Mapping[str, str] | None = None,
        progress: InboundProgress | None = None,
    ) -> None:
        self.config = config
        self.options = options or EngineOptions()
        self._environ = environ
        self.progress: InboundProgress = progress or NoProgress()
        self.store: sa.Engine | None = None
        self.state: StateStore | None = None
        self.queue: ChangeQueue | None = None
        self.connectors: dict[str, Connector] = {}
        self.readers: dict[str, MappingReader] = {}
        self.writers: dict[str, MappingWriter] = {}
        #: The two-way mappings, by name, and the Campaign → CRM side of their merge.
        self.two_way: dict[str, TwoWayMapping] = {}
        self.push: CampaignPush | None = None
        #: The CRM table metadata each mapping was compiled against (for writer processes).
        self.tables: dict[str, TableInfo] = {}
        self._caught_up = asyncio.Event()
        #: One store transaction at a time in this process (see MappingReader._state).
        self.lock = threading.Lock()

    async def __aenter__(self) -> InboundEngine:
        await self.open()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the store (publishing the resource tables), the queue and the connectors, and
        compile every mapping. Nothing is written to the store's resource rows here."""
        config = self.config
        try:
            for name in {m.connection for m in config.inbound.mappings}:
                connection = config.connections.get(name)
                if connection is None:
                    raise ConfigError(
                        [ConfigIssue(("connections",), f"connection '{name}' is not defined")]
                    )
                self.connectors[name] = open_connector(name, connection, self._environ)
            self.store = create_engine_for(config.store.url, schema=config.store.pg_schema)
            # Schema work may wait for another workflow's: off the event loop. crmsync's own
            # tables first: a store a newer crmsync upgraded is refused before anything changes.
            self.state = await asyncio.to_thread(StateStore, self.store)
            await asyncio.to_thread(publish, self.store, config.resources)
            self.queue = open_queue(config, ack_wait_seconds=self.options.ack_wait_seconds)
            await self._compile()
        except BaseException:
            await self.close()
            raise

    async def _compile(self) -> None:
        assert self.state is not None
        assert self.queue is not None
        definitions = definitions_with_profile(self.config.resources)
        tables = build_metadata(definitions).tables
        issues: list[ConfigIssue] = []
        for index, mapping in enumerate(self.config.inbound.mappings):
            loc = ("inbound", "mappings", index)
            resource = definitions.get(mapping.resource)
            if resource is None:
                issues.append(ConfigIssue((*loc, "resource"), f"no resource '{mapping.resource}'"))
                continue
            connector = self.connectors[mapping.connection]
            try:
                info = await connector.describe(mapping.crm_table)
                compiled = compile_mapping(mapping, info, resource, resources=definitions, loc=loc)
            except ConfigError as exc:
                issues += exc.issues
                continue
            except ConfigurationError as exc:
                issues.append(ConfigIssue((*loc, "crm_table"), exc.message))
                continue
            self.tables[mapping.name] = info
            merge = None
            if mapping.two_way:
                kind = self.config.connections[mapping.connection].kind
                try:
                    two_way = two_way_mapping(mapping, compiled, info, resource, kind, loc=loc)
                except ConfigError as exc:
                    issues += exc.issues
                    continue
                self.two_way[mapping.name] = two_way
                merge = two_way_merge(two_way, tables)
            writer = MappingWriter(
                compiled,
                tables[compiled.resource],
                tables,
                self.state,
                origin=f"crm:{mapping.connection}",
                on_written=self.progress.written,
                two_way=merge,
            )
            self.writers[mapping.name] = writer
            self.readers[mapping.name] = MappingReader(
                compiled,
                connector,
                self.queue,
                self.state,
                with_formatted=mapping.picklist_values == "display",
                chunk_size=self.options.chunk_size,
                on_read=self.progress.read,
                lock=self.lock,
                fingerprints=writer.fingerprints,
                on_unchanged=self.progress.written,
            )
        if issues:
            raise ConfigError(issues)
        await asyncio.to_thread(prepare_two_way, self.state.engine, self.two_way, definitions)
        if self.two_way:
            self.push = CampaignPush(
                self.two_way,
                {name: self.readers[name].connector for name in self.two_way},
                self.state,
                tables,
                version_number,
                lock=self.lock,
            )

    def compiled(self, name: str) -> CompiledMapping:
        return self.readers[name].compiled

    async def close(self) -> None:
        for connector in self.connectors.values():
            with contextlib.suppress(Exception):
                await connector.aclose()
        self.connectors.clear()
        if self.queue is not None:
            await self.queue.aclose()
            self.queue = None
        if self.store is not None:
            self.store.dispose()
        self.progress.close()

    # -- running --------------------------------------------------------------------------------

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None) -> RunSummary:
        """Run the inbound workflow until ``stop`` is set (or, with ``once``, until caught up)."""
        state = self._state
        stop = stop or asyncio.Event()
        summary = RunSummary()
        before = state.counters.by_mapping()
        state.statuses.set(WORKFLOW, WorkflowStatus.STARTING)
        for name in self.readers:
            if state.replays.take(name) is not None:
                # A replay is a new snapshot: every record is read and written again, and
                # the seen-keys reconciliation removes what the CRM no longer holds.
                state.cursors.clear(name)
                summary.replays.append(name)
                logger.info("%s: replay taken up; reading the CRM table in full", name)
        state.statuses.set(WORKFLOW, WorkflowStatus.RUNNING)
        self._caught_up.clear()
        # Set by ``stop`` or by a failure: the loops end even when a cancellation is lost (one
        # arriving just as an ``asyncio.wait_for`` ends can be swallowed).
        halt = asyncio.Event()
        relay = asyncio.create_task(_relay(stop, halt), name="inbound-stop")
        reader = asyncio.create_task(self._read_loop(halt, once), name="inbound-reader")
        writer = asyncio.create_task(self._write(halt, once), name="inbound-writer")
        tasks = {reader, writer}
        if self.push is not None and not once:
            tasks.add(asyncio.create_task(self._push_loop(halt), name="inbound-push"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            if once:
                await writer
                await self.push_all()
        except BaseException as exc:
            halt.set()
            for task in tasks:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*tasks, return_exceptions=True)
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
                state.statuses.set(WORKFLOW, WorkflowStatus.STOPPED)
            else:
                state.statuses.set(WORKFLOW, WorkflowStatus.FAILED, str(exc))
            raise
        finally:
            relay.cancel()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        state.statuses.set(WORKFLOW, WorkflowStatus.STOPPED)
        after = state.counters.by_mapping()
        summary.counters = {
            name: after.get(name, Counts()).since(before.get(name, Counts()))
            for name in self.readers
        }
        summary.rejects = sum(counts.rejected for counts in summary.counters.values())
        return summary

    @property
    def _state(self) -> StateStore:
        if self.state is None or self.queue is None:
            raise RuntimeError("the engine is not open")
        return self.state

    @property
    def _queue(self) -> ChangeQueue:
        if self.queue is None:
            raise RuntimeError("the engine is not open")
        return self.queue

    async def read_round(self) -> int:
        """One change-tracking round of every mapping; returns the changes published."""
        total = 0
        for reader in self.readers.values():
            total += (await reader.round()).changes
        return total

    async def _read_loop(self, stop: asyncio.Event, once: bool) -> None:
        interval = self.options.poll_interval_seconds or self.config.inbound.poll_interval_seconds
        failures = 0
        while not stop.is_set():
            try:
                changes = await self.read_round()
            except (TransientError, RateLimitedError) as exc:
                failures += 1
                if failures >= _READ_FAILURES:
                    raise
                logger.warning("reading failed (%s); trying again in %.1f s", exc, interval)
                changes = -1
            else:
                failures = 0
            if once and changes == 0:
                self._caught_up.set()
                return
            if once and changes > 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def push_all(self) -> int:
        """Merge Campaign edits into the CRM until a round finds none left to merge (records
        whose writes keep racing with CRM changes wait for the next run); returns the records
        merged."""
        total = 0
        busy = 0
        while self.push is not None:
            try:
                merged = await self.push.round()
            except OperationalError as exc:
                # A deadlock with a Campaign client, SQLite busy: the round's log rows stay.
                busy += 1
                if busy >= _READ_FAILURES:
                    raise
                logger.warning("sending Campaign edits: store busy (%s); trying again", exc.orig)
                await asyncio.sleep(_PUSH_SECONDS)
                continue
            if not merged:
                break
            total += merged
        return total

    async def _push_loop(self, stop: asyncio.Event) -> None:
        """The Campaign → CRM side of the two-way mappings, a round every few tenths of a
        second; the CRM being unreachable is retried as reading is."""
        assert self.push is not None
        failures = 0
        while not stop.is_set():
            try:
                merged = await self.push.round()
            except OperationalError as exc:
                # A deadlock with a Campaign client, SQLite busy: the round's log rows stay, and
                # what it sent is kept (crmsync.twoway.sent); the next round takes them up.
                logger.warning("sending Campaign edits: store busy (%s); trying again", exc.orig)
                merged = 0
            except (TransientError, RateLimitedError) as exc:
                failures += 1
                if failures >= _READ_FAILURES:
                    raise
                logger.warning("sending Campaign edits failed (%s); trying again", exc)
                merged = 0
            else:
                failures = 0
            if not merged:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _PUSH_SECONDS * (1 + 4 * failures))

    async def backlog(self) -> int:
        """Changes waiting in the queue plus parked children, over the configured mappings."""
        queued = 0
        for name in self.writers:
            queued += await self._queue.backlog(name)
        return queued + self._state.parked.count()

    def _write_loop(self) -> WriteLoop:
        return WriteLoop(
            self.writers,
            self._state,
            self._queue,
            parent_wait_seconds=self.options.parent_wait_seconds,
            progress=self.progress,
            lock=self.lock,
        )

    async def _write(self, stop: asyncio.Event, once: bool) -> None:
        """The writer side: in this process, or supervising the writer processes."""
        loop = self._write_loop()
        if self.options.writer_processes == 0:
            await loop.run(stop, self._caught_up if once else None)
            return
        spec = WriterSpec(
            self.config,
            self.tables,
            self.options,
            os.getpid(),
            logging.getLogger().getEffectiveLevel(),
        )
        processes = WriterProcesses(spec, self.options.writer_processes)
        written = {name: counts.read for name, counts in self._state.counters.by_mapping().items()}
        try:
            await processes.start()
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _SUPERVISE_SECONDS)
                reason = await processes.failure()
                if reason is not None:
                    raise FatalError(reason)
                self._report_written(written)
                await loop.report_backlog()
                if stop.is_set():
                    return
                if once and self._caught_up.is_set() and not await loop.queued():
                    break
        finally:
            await processes.stop()
        await loop.finish()
        self._report_written(written)

    def _report_written(self, written: dict[str, int]) -> None:
        """Progress of writer processes, from the counters they commit."""
        for name, counts in self._state.counters.by_mapping().items():
            if name in self.writers and counts.read > written.get(name, 0):
                self.progress.written(name, counts.read - written.get(name, 0))
                written[name] = counts.read

    def housekeeping(self, final: bool = False) -> None:
        """Release parked children, reconcile complete snapshots, expire old parked children
        (all of them when ``final``)."""
        self._write_loop().housekeeping(final)


async def _relay(stop: asyncio.Event, halt: asyncio.Event) -> None:
    await stop.wait()
    halt.set()
