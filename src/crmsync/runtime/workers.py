"""This process as a worker: its entry in the registry, its heartbeat, and the leases it holds.

A :class:`Worker` registers the process (id, role, host, pid) in the store, then a heartbeat
thread beats every :attr:`LeaseTiming.heartbeat_seconds` and renews each lease the worker holds
for :attr:`LeaseTiming.lease_seconds`. A thread, not a task: a busy event loop (a page of a
million-record snapshot being parsed) must not let a lease expire under a live worker.

Taking a lease (:meth:`Worker.take`) is one conditional upsert
(:meth:`crmsync.state.leases.Leases.take`). A lease still held by a worker of this very machine
whose process is gone (killed with SIGKILL, crashed) is taken at once instead of after its
expiry: the registry says which machine and pid hold it, and the process table says whether
that pid still runs. Elsewhere, the lease expires ``lease_seconds`` after the last renewal of its
holder, and a worker waiting for it (:meth:`Worker.wait_to_take`, every ``retry_seconds``) takes
it then.

A worker knows a lease is lost when a renewal fails (another holder took it) or when it could
not renew it for ``lease_seconds`` (the store unreachable, the process paused): :meth:`holds`
turns false, and :meth:`fence`'s check, made in the transaction of each cursor or snapshot save,
refuses the save if another holder has taken it meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa

from crmsync.state.leases import Leases
from crmsync.state.part import Fence
from crmsync.state.workers import WorkerRole, Workers

__all__ = [
    "HOUSEKEEPING_LEASE",
    "MAPPING_LEASE_PREFIX",
    "PUSH_LEASE",
    "LeaseTiming",
    "Worker",
    "job_lease",
    "machine_id",
    "mapping_lease",
    "pid_alive",
]

logger = logging.getLogger(__name__)

#: The leases of reading the inbound mappings: ``inbound:<mapping>``.
MAPPING_LEASE_PREFIX = "inbound:"
#: The Campaign → CRM side of every two-way mapping (one round reads one change log).
PUSH_LEASE = "inbound-push"
#: The writers' housekeeping: parked children, snapshot reconciliation, PARENT_MISSING rejects.
HOUSEKEEPING_LEASE = "inbound-housekeeping"


def mapping_lease(mapping: str) -> str:
    """The lease of reading inbound mapping ``mapping``."""
    return f"{MAPPING_LEASE_PREFIX}{mapping}"


def job_lease(job: str) -> str:
    """The lease a run of job ``job`` holds in ``crmsync serve``: one run at a time per store."""
    return f"job:{job}"


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    """How long a lease lasts without renewal, and how often it is renewed and waited for.

    With the defaults, a reader killed on another machine is replaced within about
    ``lease_seconds + retry_seconds`` (7 s); on the same machine, within ``retry_seconds``.
    """

    lease_seconds: float = 6.0
    heartbeat_seconds: float = 1.5
    retry_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_seconds * 2 <= self.lease_seconds:
            raise ValueError("a lease must last at least two heartbeats")
        if self.retry_seconds <= 0:
            raise ValueError("retry_seconds must be positive")


@dataclass(slots=True)
class _Held:
    token: int
    #: When it was last renewed (monotonic time taken before the renewal was asked for).
    renewed: float


def machine_id() -> str:
    """This machine as a process table sees it: the host name, its boot and the pid namespace
    (two containers of one host have different process tables)."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    with contextlib.suppress(OSError):
        parts.append(str(Path("/proc/self/ns/pid").readlink()))
    return " ".join(parts)[:255]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine runs (a zombie, killed and not yet reaped by its
    parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


class Worker:
    """This process in the registry of ``engine``'s store, with its leases.

    ``lock``: held around each store transaction of the worker (the inbound engine passes the one
    its readers and writer share: SQLite takes one write transaction at a time).
    """

    def __init__(
        self,
        engine: sa.Engine,
        role: WorkerRole | str,
        *,
        timing: LeaseTiming | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        self.engine = engine
        self.role = WorkerRole(role)
        self.timing = timing or LeaseTiming()
        self.lock = lock or threading.Lock()
        self.leases = Leases(engine)
        self.workers = Workers(engine, tables=self.leases.tables)
        self.host = socket.gethostname()
        self.machine = machine_id()
        self.pid = os.getpid()
        self.id = f"{self.host[:40]}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self._held: dict[str, _Held] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> Worker:
        """Register and start beating."""
        with self.lock:
            self.workers.register(self.id, self.role, self.host, self.machine, self.pid)
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {self.id}", daemon=True)
        self._thread.start()
        logger.info("worker %s (%s) started", self.id, self.role)
        return self

    def stop(self) -> None:
        """Stop beating, give every lease up, record the stop."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for name in list(self._held):
            self.release(name)
        with contextlib.suppress(sa.exc.SQLAlchemyError), self.lock:
            self.workers.stopped(self.id)

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Worker:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- leases ----------------------------------------------------------------------------------

    def holds(self, name: str) -> bool:
        """Whether this worker holds lease ``name`` (renewed within its lifetime)."""
        held = self._held.get(name)
        return held is not None and time.monotonic() - held.renewed < self.timing.lease_seconds

    def take(self, name: str) -> bool:
        """Take lease ``name`` now if it is free, expired, ours, or its holder's process is
        gone from this machine; whether this worker holds it."""
        asked = time.monotonic()
        try:
            with self.lock:
                token = self.leases.take(name, self.id, self.timing.lease_seconds)
                if token is None:
                    dead = self._dead_holder(name)
                    if dead is not None:
                        token = self.leases.take(
                            name, self.id, self.timing.lease_seconds, breaking=dead
                        )
                        if token is not None:
                            logger.warning(
                                "%s: its holder %s has gone from this machine: taken over",
                                name,
                                dead,
                            )
        except sa.exc.OperationalError as exc:
            logger.warning("%s: the lease could not be taken (%s); trying again", name, exc.orig)
            return False
        if token is None:
            return False
        if name not in self._held:
            logger.info("%s: lease taken by worker %s (token %d)", name, self.id, token)
        self._held[name] = _Held(token, asked)
        return True

    async def wait_to_take(self, name: str, stop: asyncio.Event) -> bool:
        """Take lease ``name``, trying again every ``retry_seconds`` until taken (``True``) or
        ``stop`` is set (``False``)."""
        while not stop.is_set():
            if await asyncio.to_thread(self.take, name):
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.timing.retry_seconds)
        return False

    async def watch(self, name: str, lost: asyncio.Event) -> None:
        """Set ``lost`` once this worker no longer holds lease ``name`` (returns at once when
        ``lost`` is set by someone else)."""
        while self.holds(name):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), 0.25)
            if lost.is_set():
                return
        logger.warning("%s: the lease was lost by worker %s", name, self.id)
        lost.set()

    def release(self, name: str) -> None:
        """Give lease ``name`` up (the next worker waiting for it takes it at its next try)."""
        if self._held.pop(name, None) is None:
            return
        with contextlib.suppress(sa.exc.SQLAlchemyError), self.lock:
            self.leases.release(name, self.id)
        logger.info("%s: lease released by worker %s", name, self.id)

    def fence(self, name: str) -> Fence:
        """The check a leased duty makes in the transaction of each save: this worker still
        holds lease ``name`` with the token it took it with."""

        def check(conn: sa.Connection) -> None:
            held = self._held.get(name)
            token = held.token if held is not None else -1
            self.leases.check(conn, name, self.id, token)

        return check

    def may_housekeep(self, final: bool) -> bool:
        """Whether this worker may do the inbound writers' housekeeping now: it holds (or takes)
        the housekeeping lease; ``final`` (every child still parked is rejected): and no other
        worker reads a mapping, so that no parent can arrive any more."""
        if not (self.holds(HOUSEKEEPING_LEASE) or self.take(HOUSEKEEPING_LEASE)):
            return False
        if not final:
            return True
        readers = self.leases.held(MAPPING_LEASE_PREFIX)
        return all(lease.holder == self.id for lease in readers)

    def others_alive(self) -> bool:
        """Whether another live worker is registered (who still runs the workflows)."""
        return any(view.id != self.id for view in self.workers.alive())

    # -- heartbeat -------------------------------------------------------------------------------

    def _dead_holder(self, name: str) -> str | None:
        """The holder of lease ``name`` when it is a worker of this machine whose process is
        gone (or that said it stopped)."""
        lease = self.leases.get(name)
        if lease is None or lease.holder == self.id:
            return None
        holder = self.workers.get(lease.holder)
        if holder is None or holder.machine != self.machine:
            return None
        if holder.stopped_at is not None or not pid_alive(holder.pid):
            return holder.id
        return None

    def _beat(self) -> None:
        interval = self.timing.heartbeat_seconds
        while not self._stopping.wait(interval):
            try:
                with self.lock:
                    self.workers.beat(self.id)
            except sa.exc.SQLAlchemyError as exc:
                logger.warning("worker %s: heartbeat failed (%s)", self.id, exc)
            for name, held in list(self._held.items()):
                self._renew(name, held)

    def _renew(self, name: str, held: _Held) -> None:
        asked = time.monotonic()
        try:
            with self.lock:
                if self._held.get(name) is not held:
                    return  # released (or taken again) meanwhile
                token = self.leases.take(name, self.id, self.timing.lease_seconds)
        except sa.exc.SQLAlchemyError as exc:
            logger.warning("%s: the lease could not be renewed (%s)", name, exc)
            if asked - held.renewed >= self.timing.lease_seconds:
                self._held.pop(name, None)
            return
        if token == held.token:
            held.renewed = asked
            return
        # Another holder took it (it expired while this process was paused or cut off).
        self._held.pop(name, None)
        if token is not None:
            # Taken back at once by this renewal: a lease nobody else held is ours again, but
            # under a new token, so every save of the old holding is refused.
            with contextlib.suppress(sa.exc.SQLAlchemyError), self.lock:
                self.leases.release(name, self.id)
        logger.warning("%s: lease lost by worker %s (another worker holds it)", name, self.id)
