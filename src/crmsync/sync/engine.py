"""The inbound workflow: readers (CRM → queue) and writers (queue → Campaign store).

:class:`InboundEngine` opens everything the configuration names (store, queue, CRM connections),
compiles every table mapping against the CRM metadata (all problems reported at once, before
anything is written), then runs, by its worker role (``EngineOptions.role``), one or both sides:

- the **reader side** (:class:`~crmsync.sync.read_loop.ReadLoop`, roles ``all`` and ``reader``)
  runs a change-tracking round of every mapping whose lease this worker holds, then waits the
  poll interval; it saves the description of each CRM table it reads for the writers, and the
  holder of the push lease runs the Campaign → CRM side of the two-way mappings;
- the **writer side** (:class:`~crmsync.sync.write_loop.WriteLoop`, roles ``all`` and
  ``writer``) fetches messages, applies each in one store transaction and acknowledges it after
  the commit; between messages the holder of the housekeeping lease releases parked children
  whose parent arrived, reconciles complete snapshots and turns children parked too long into
  ``PARENT_MISSING`` rejects. Role ``writer`` never calls the CRM: its mappings are compiled
  from the descriptions the readers saved. With ``writer_processes`` it runs in that many
  processes of its own (:mod:`crmsync.sync.writer_process`), so that reading and writing use
  separate cores; the engine then watches them, reports their progress and does the final
  housekeeping once they have stopped.

Every duty two workers could both do is leased (:mod:`crmsync.runtime.workers`): reading a
mapping, the two-way push, the writers' housekeeping. Any number of workers of each role may run
on one configuration: docs/deploy.md says who does what.

With ``once``: role ``all`` stops when a round of the mappings it holds finds no change and the
backlog (queue and parked children) is empty; children still waiting for a parent then are
rejected, when no other worker reads a mapping (no parent can arrive any more). Role ``reader``
stops when a round finds no change; role ``writer`` once every mapping has been read (its cursor
saved), no reader holds a mapping and the backlog is empty.
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
from crmsync.runtime.workers import (
    MAPPING_LEASE_PREFIX,
    PUSH_LEASE,
    Worker,
    mapping_lease,
)
from crmsync.state.models import Counts, WorkflowStatus
from crmsync.state.store import StateStore
from crmsync.state.workers import WorkerRole
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile, publish
from crmsync.sync.progress import InboundProgress, NoProgress
from crmsync.sync.read_loop import READ_FAILURES, ReadLoop
from crmsync.sync.reader import MappingReader
from crmsync.sync.transform import CompiledMapping, compile_mapping
from crmsync.sync.write_loop import WriteLoop
from crmsync.sync.writer import WORKFLOW, MappingWriter, version_number
from crmsync.sync.writer_process import (
    WriterProcesses,
    WriterSpec,
    compile_writers,
    two_way_merge,
)
from crmsync.twoway.mapping import TwoWayMapping, two_way_mapping
from crmsync.twoway.push import CampaignPush
from crmsync.twoway.setup import prepare_two_way

__all__ = ["EngineOptions", "InboundEngine", "RunSummary"]

logger = logging.getLogger(__name__)

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
    #: What this worker does: read (``reader``), write (``writer``) or both (``all``).
    role: WorkerRole = WorkerRole.ALL

    def __post_init__(self) -> None:
        if self.writer_processes < 0:
            raise ValueError("writer_processes must be 0 or more")
        if self.role not in (WorkerRole.ALL, WorkerRole.READER, WorkerRole.WRITER):
            raise ValueError(f"an inbound engine's role is all, reader or writer, not {self.role}")

    @property
    def reads(self) -> bool:
        return self.role in (WorkerRole.ALL, WorkerRole.READER)

    @property
    def writes(self) -> bool:
        return self.role in (WorkerRole.ALL, WorkerRole.WRITER)


@dataclass(slots=True)
class RunSummary:
    """What a run did: the counts of this run alone by mapping (``crmsync status`` shows the
    totals), the records it rejected, the replays it took up."""

    counters: dict[str, Counts] = field(default_factory=dict)
    rejects: int = 0
    replays: list[str] = field(default_factory=list)


class InboundEngine:
    """The inbound workflow of one configuration; use ``async with`` or :meth:`open`/`close`.

    ``worker``: this process in the registry, whose leases the engine takes (``None``: the
    engine registers a worker of its own for as long as it is open).
    """

    def __init__(
        self,
        config: Config,
        *,
        options: EngineOptions | None = None,
        environ: Mapping[str, str] | None = None,
        progress: InboundProgress | None = None,
        worker: Worker | None = None,
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
        self.lock = worker.lock if worker is not None else threading.Lock()
        self.worker = worker
        self._own_worker = worker is None
        #: The mappings the writer side still waits for a reader to describe (role writer).
        self._undescribed: list[str] = []

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
            for name in self._connections():
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
            self.queue = open_queue(
                config, ack_wait_seconds=self.options.ack_wait_seconds, environ=self._environ
            )
            if self.worker is None:
                self.worker = Worker(self.store, self.options.role, lock=self.lock)
                await asyncio.to_thread(self.worker.start)
            if self.options.reads:
                await self._compile()
            else:
                await asyncio.to_thread(self._describe_from_store)
        except BaseException:
            await self.close()
            raise

    def _connections(self) -> set[str]:
        """The CRM connections this worker opens (a writer opens none)."""
        if not self.options.reads:
            return set()
        return {m.connection for m in self.config.inbound.mappings}

    def _describe_from_store(self) -> None:
        """Role writer: compile the writers of the mappings whose CRM table a reader saved the
        description of; the others wait in :attr:`_undescribed`."""
        state = self._state
        tables = dict(self.tables)
        for mapping in self.config.inbound.mappings:
            if mapping.name not in tables:
                info = state.crm_tables.load(mapping.connection, mapping.crm_table)
                if info is not None:
                    tables[mapping.name] = info
        self.tables = tables
        self.writers = compile_writers(self.config, tables, state, self.progress.written)
        self._undescribed = [m.name for m in self.config.inbound.mappings if m.name not in tables]

    async def _await_descriptions(self, stop: asyncio.Event) -> None:
        """Role writer: wait until a reader has described every mapping's CRM table."""
        retry = self._worker.timing.retry_seconds
        while self._undescribed and not stop.is_set():
            logger.info(
                "waiting for a reader to describe the CRM tables of %s",
                ", ".join(self._undescribed),
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), retry)
            await asyncio.to_thread(self._describe_from_store)

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
                fence=self._worker.fence(mapping_lease(mapping.name)),
            )
        if issues:
            raise ConfigError(issues)
        await asyncio.to_thread(prepare_two_way, self.state.engine, self.two_way, definitions)
        await asyncio.to_thread(self._save_descriptions)
        if self.two_way:
            self.push = CampaignPush(
                self.two_way,
                {name: self.readers[name].connector for name in self.two_way},
                self.state,
                tables,
                version_number,
                lock=self.lock,
            )

    def _save_descriptions(self) -> None:
        """The CRM table of each mapping, described for the writers that never call the CRM."""
        state = self._state
        for mapping in self.config.inbound.mappings:
            with self.lock:
                state.crm_tables.save(mapping.connection, self.tables[mapping.name])

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
        if self.worker is not None and self._own_worker:
            await asyncio.to_thread(self.worker.stop)
            self.worker = None
        if self.store is not None:
            self.store.dispose()
        self.progress.close()

    # -- running --------------------------------------------------------------------------------

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None) -> RunSummary:
        """Run the inbound workflow until ``stop`` is set (or, with ``once``, until caught up)."""
        state = self._state
        options = self.options
        stop = stop or asyncio.Event()
        summary = RunSummary()
        before = state.counters.by_mapping()
        state.statuses.set(WORKFLOW, WorkflowStatus.STARTING)
        state.statuses.set(WORKFLOW, WorkflowStatus.RUNNING)
        self._caught_up.clear()
        # Set by ``stop`` or by a failure: the loops end even when a cancellation is lost (one
        # arriving just as an ``asyncio.wait_for`` ends can be swallowed).
        halt = asyncio.Event()
        relay = asyncio.create_task(_relay(stop, halt), name="inbound-stop")
        tasks: set[asyncio.Task[None]] = set()
        #: The task whose end is the end of a run with ``once``.
        last: asyncio.Task[None] | None = None
        read_loop = self.read_loop()
        if options.reads:
            last = asyncio.create_task(self._read(read_loop, halt, once), name="inbound-reader")
            tasks.add(last)
            if self.push is not None and not once:
                tasks.add(asyncio.create_task(self._push_loop(halt), name="inbound-push"))
        if options.writes:
            if not options.reads and once:
                watch = self._watch_readers(halt)
                tasks.add(asyncio.create_task(watch, name="inbound-readers-done"))
            last = asyncio.create_task(self._write(halt, once), name="inbound-writer")
            tasks.add(last)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            if once:
                assert last is not None
                await last
                if options.reads:
                    await self.push_all()
        except BaseException as exc:
            halt.set()
            for task in tasks:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*tasks, return_exceptions=True)
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
                await asyncio.to_thread(self._stopped)
            else:
                state.statuses.set(WORKFLOW, WorkflowStatus.FAILED, str(exc))
            raise
        finally:
            relay.cancel()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(self._stopped)
        after = state.counters.by_mapping()
        summary.counters = {
            m.name: after.get(m.name, Counts()).since(before.get(m.name, Counts()))
            for m in self.config.inbound.mappings
            if m.name in self.readers or m.name in self.writers
        }
        summary.rejects = sum(counts.rejected for counts in summary.counters.values())
        summary.replays = read_loop.replays
        return summary

    def _stopped(self) -> None:
        """Record the workflow as stopped, unless another worker still runs it."""
        if not self._worker.others_alive():
            self._state.statuses.set(WORKFLOW, WorkflowStatus.STOPPED)

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

    @property
    def _worker(self) -> Worker:
        if self.worker is None:
            raise RuntimeError("the engine is not open")
        return self.worker

    def read_loop(self) -> ReadLoop:
        """The reader side over the mappings whose lease this engine's worker holds."""
        interval = self.options.poll_interval_seconds or self.config.inbound.poll_interval_seconds
        return ReadLoop(self.readers, self._state, self._worker, interval=interval)

    async def take_leases(self) -> list[str]:
        """Take the lease of every mapping no other worker reads (their replays are taken up,
        as :meth:`run` does); the mappings this worker reads now."""
        loop = self.read_loop()
        await loop.take()
        return loop.held()

    async def read_round(self) -> int:
        """One change-tracking round of every mapping this worker holds or can take now;
        returns the changes published."""
        loop = self.read_loop()
        await loop.take()
        return await loop.round()

    async def _read(self, loop: ReadLoop, stop: asyncio.Event, once: bool) -> None:
        await loop.run(stop, once)
        if loop.caught_up.is_set():
            self._caught_up.set()

    async def _watch_readers(self, stop: asyncio.Event) -> None:
        """Role writer with ``once``: caught up once every mapping has been read (its cursor
        saved) and no reader holds a mapping's lease: nothing more can come."""
        while not stop.is_set():
            if await asyncio.to_thread(self._readers_done):
                self._caught_up.set()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._worker.timing.retry_seconds)

    def _readers_done(self) -> bool:
        state = self._state
        if state.leases.held(MAPPING_LEASE_PREFIX):
            return False
        return all(state.cursors.load(m.name) is not None for m in self.config.inbound.mappings)

    async def push_all(self) -> int:
        """Merge Campaign edits into the CRM until a round finds none left to merge (records
        whose writes keep racing with CRM changes wait for the next run); returns the records
        merged. Only the holder of the push lease sends (another worker is sending them)."""
        total = 0
        busy = 0
        if self.push is None or not await asyncio.to_thread(self._worker.take, PUSH_LEASE):
            return 0
        while self.push is not None:
            try:
                merged = await self.push.round()
            except OperationalError as exc:
                # A deadlock with a Campaign client, SQLite busy: the round's log rows stay.
                busy += 1
                if busy >= READ_FAILURES:
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
        second, while this worker holds the push lease (one worker sends them: a round reads
        the one change log of every two-way mapping); the CRM being unreachable is retried as
        reading is."""
        assert self.push is not None
        failures = 0
        while not stop.is_set():
            if not await self._worker.wait_to_take(PUSH_LEASE, stop):
                return
            try:
                merged = await self.push.round()
            except OperationalError as exc:
                # A deadlock with a Campaign client, SQLite busy: the round's log rows stay, and
                # what it sent is kept (crmsync.twoway.sent); the next round takes them up.
                logger.warning("sending Campaign edits: store busy (%s); trying again", exc.orig)
                merged = 0
            except (TransientError, RateLimitedError) as exc:
                failures += 1
                if failures >= READ_FAILURES:
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
            housekeeping=self._worker.may_housekeep,
        )

    async def _write(self, stop: asyncio.Event, once: bool) -> None:
        """The writer side: in this process, or supervising the writer processes."""
        await self._await_descriptions(stop)
        if stop.is_set():
            return
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
            None if self._environ is None else dict(self._environ),
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

    def housekeeping(self, final: bool = False) -> bool:
        """Release parked children, reconcile complete snapshots, expire old parked children
        (all of them when ``final``), when this worker holds the housekeeping lease; whether
        it did."""
        if not self._worker.may_housekeep(final):
            return False
        self._write_loop().housekeeping(final)
        return True


async def _relay(stop: asyncio.Event, halt: asyncio.Event) -> None:
    await stop.wait()
    halt.set()
