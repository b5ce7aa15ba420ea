"""Writer processes: the inbound writer side running apart from the readers.

Reading (HTTPS, JSON parsing) and writing (conversion, upserts) each take about half of an
initial load's CPU; in one interpreter they share one core. With ``writer_processes`` set,
:class:`WriterProcesses` starts that many ``python -m crmsync.sync.writer_process`` children;
each opens the store and the queue itself and runs a :class:`~crmsync.sync.write_loop.WriteLoop`
until it is told to stop (SIGTERM) or its parent goes away. The queue is the boundary: messages
are leased by one consumer at a time, applied in one transaction each and acknowledged after the
commit, so a writer process killed at any point leaves nothing half-done and its messages come
back after the ack wait. Each child is a worker of its own in the registry (role ``writer``); the
one holding the housekeeping lease does the housekeeping (parked children, snapshot
reconciliation), and the engine does the final pass itself once the children have stopped.

A child receives what it needs on its standard input as a pickle (the configuration and the CRM
table metadata the mappings were checked against: it never calls the CRM) and, when it fails,
writes the reason on its standard output before exiting with status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from crmsync.config.models import Config
from crmsync.connectors.base import TableInfo
from crmsync.runtime.process import freeze_startup_heap
from crmsync.runtime.workers import Worker
from crmsync.state.store import StateStore
from crmsync.state.workers import WorkerRole
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile
from crmsync.sync.progress import NoProgress
from crmsync.sync.transform import compile_mapping
from crmsync.sync.write_loop import WriteLoop
from crmsync.sync.writer import MappingWriter, version_number
from crmsync.twoway.inbound import CrmMerge
from crmsync.twoway.mapping import TwoWayMapping, two_way_mapping

if TYPE_CHECKING:
    from crmsync.sync.engine import EngineOptions

__all__ = ["WriterProcesses", "WriterSpec", "compile_writers", "main", "two_way_merge"]

logger = logging.getLogger(__name__)

#: How often a child checks that its parent is still there.
_PARENT_CHECK_SECONDS = 0.5
#: How long a stopping child may take to finish its message before it is killed.
_STOP_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class WriterSpec:
    """Everything a writer process needs (pickled to its standard input)."""

    config: Config
    #: The CRM table metadata of each mapping, by mapping name.
    tables: Mapping[str, TableInfo]
    options: EngineOptions
    parent_pid: int
    log_level: int = logging.WARNING
    #: Where the queue's secrets are read (``None``: this process's environment, inherited).
    environ: Mapping[str, str] | None = None


def compile_writers(
    config: Config,
    tables: Mapping[str, TableInfo],
    state: StateStore,
    on_written: Callable[[str, int], None] | None = None,
) -> dict[str, MappingWriter]:
    """A writer for each inbound mapping of ``config`` whose CRM table is in ``tables`` (the
    mappings were checked by a reader already: a problem here is raised, not collected)."""
    definitions = definitions_with_profile(config.resources)
    store_tables = build_metadata(definitions).tables
    writers: dict[str, MappingWriter] = {}
    for mapping in config.inbound.mappings:
        info = tables.get(mapping.name)
        if info is None:
            continue
        resource = definitions[mapping.resource]
        compiled = compile_mapping(mapping, info, resource, resources=definitions)
        merge = None
        if mapping.two_way:
            kind = config.connections[mapping.connection].kind
            merge = two_way_merge(
                two_way_mapping(mapping, compiled, info, resource, kind), store_tables
            )
        writers[mapping.name] = MappingWriter(
            compiled,
            store_tables[compiled.resource],
            store_tables,
            state,
            origin=f"crm:{mapping.connection}",
            on_written=on_written,
            two_way=merge,
        )
    return writers


def two_way_merge(two_way: TwoWayMapping, tables: Mapping[str, sa.Table]) -> CrmMerge:
    """The CRM → Campaign side of a two-way mapping's merge, for its writer."""
    return CrmMerge(two_way, tables[two_way.resource], version_number)


class WriterProcesses:
    """A group of writer processes started and stopped by the engine."""

    def __init__(self, spec: WriterSpec, count: int) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self.spec = spec
        self.count = count
        self._processes: list[asyncio.subprocess.Process] = []

    async def start(self) -> None:
        for index in range(self.count):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "crmsync.sync.writer_process",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            self._processes.append(process)
            assert process.stdin is not None
            process.stdin.write(pickle.dumps(self.spec))
            await process.stdin.drain()
            process.stdin.close()
            logger.info("writer process %d started (pid %d)", index, process.pid)

    async def failure(self) -> str | None:
        """Why a writer process ended by itself, if one did (they only end when stopped)."""
        for process in self._processes:
            if process.returncode is None:
                continue
            assert process.stdout is not None
            reason = (await process.stdout.read()).decode(errors="replace").strip()
            return f"writer process {process.pid} exited with status {process.returncode}" + (
                f": {reason}" if reason else ""
            )
        return None

    async def stop(self) -> None:
        """Ask every writer process to finish its message and exit; wait for them."""
        for process in self._processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in self._processes:
            try:
                await asyncio.wait_for(process.wait(), _STOP_SECONDS)
            except TimeoutError:
                logger.warning("writer process %d did not stop: killed", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self._processes.clear()


async def serve(spec: WriterSpec) -> None:
    """A writer process's work: apply the queue's messages until SIGTERM or the parent is gone."""
    # Imported here: the engine module imports this one.
    from crmsync.runtime.queues import open_queue

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    store = create_engine_for(spec.config.store.url, schema=spec.config.store.pg_schema)
    state = StateStore(store)
    queue = open_queue(
        spec.config, ack_wait_seconds=spec.options.ack_wait_seconds, environ=spec.environ
    )
    lock = threading.Lock()
    worker = Worker(store, WorkerRole.WRITER, lock=lock)
    watcher = asyncio.create_task(_watch_parent(spec.parent_pid, stop))
    try:
        await asyncio.to_thread(worker.start)
        loop = WriteLoop(
            compile_writers(spec.config, spec.tables, state),
            state,
            queue,
            parent_wait_seconds=spec.options.parent_wait_seconds,
            progress=NoProgress(),
            lock=lock,
            housekeeping=worker.may_housekeep,
        )
        await loop.run(stop)
    finally:
        watcher.cancel()
        await asyncio.to_thread(worker.stop)
        await queue.aclose()
        store.dispose()


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """Stop when the engine process has gone (killed): a child is never left writing alone."""
    while os.getppid() == parent_pid and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _PARENT_CHECK_SECONDS)
    if stop.is_set():
        return
    logger.warning("the engine process %d has gone: the writer process stops", parent_pid)
    stop.set()


def main() -> None:
    """Entry point of ``python -m crmsync.sync.writer_process`` (started by the engine)."""
    # Ctrl+C reaches the whole process group: the engine stops its children itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec = pickle.load(sys.stdin.buffer)  # noqa: S301 - written by the parent process
    if not isinstance(spec, WriterSpec):
        raise SystemExit("a writer process reads its WriterSpec on standard input")
    logging.basicConfig(
        level=spec.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    freeze_startup_heap()
    try:
        asyncio.run(serve(spec))
    except Exception as exc:
        logger.exception("the writer process failed")
        sys.stdout.write(f"{type(exc).__name__}: {exc}\n")
        sys.stdout.flush()
        raise SystemExit(1) from None


if __name__ == "__main__":
    # Through the package, so that the pickled spec's class is this module's very class.
    from crmsync.sync import writer_process

    writer_process.main()
