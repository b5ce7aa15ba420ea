"""Shared set-up of the worker role tests: ``crmsync run --role …`` processes on one
configuration, who holds which lease, and waiting for the store to equal the CRM."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from crash_support import assert_identical, start
from inbound_support import Crm

from crmsync.state.store import StateStore
from crmsync.store import create_engine_for

#: Contacts and their subscriptions.
LEASES = ("inbound:contacts", "inbound:subscriptions")


class Workers:
    """``crmsync run`` processes started on one configuration, stopped (SIGTERM, then SIGKILL)
    when the context ends; each one's standard error in ``folder``."""

    def __init__(self, config: Path, folder: Path) -> None:
        self.config = config
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, role: str, *extra: str) -> subprocess.Popen[bytes]:
        log = self.folder / f"{role}-{len(self.processes)}.log"
        process = start(self.config, "--role", role, *extra, log=log)
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.folder.glob("*.log"))
        )

    def stop(self) -> list[int]:
        """SIGTERM every live process, wait for each; their exit statuses."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        return [process.wait(timeout=60) for process in self.processes]

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def queue_on_nats(config: Path, url: str, stream: str) -> None:
    """Move the change queue of ``config`` to the NATS JetStream ``stream`` at ``url``."""
    text = config.read_text(encoding="utf-8")
    nats = f"queue:\n  kind: nats\n  url: {url}\n  stream: {stream}\n"
    moved, count = re.subn(r"queue:\n  kind: sqlite\n  path: [^\n]*\n", lambda _: nats, text)
    assert count == 1, text
    config.write_text(moved, encoding="utf-8")


@contextmanager
def workers(config: Path, folder: Path) -> Iterator[Workers]:
    started = Workers(config, folder)
    try:
        yield started
    finally:
        started.kill_all()


def holders(store_url: str, schema: str | None) -> dict[str, int]:
    """The leases held now, by name: the pid of the worker holding each."""
    engine = create_engine_for(store_url, schema=schema)
    try:
        state = StateStore(engine)
        pids = {view.id: view.pid for view in state.workers.all()}
        return {lease.name: pids.get(lease.holder, -1) for lease in state.leases.held()}
    finally:
        engine.dispose()


def wait_for_holders(
    store_url: str, schema: str | None, names: tuple[str, ...], seconds: float = 60
) -> dict[str, int]:
    """The holders of ``names`` once each is held."""
    deadline = time.monotonic() + seconds
    while True:
        held = holders(store_url, schema)
        if all(name in held for name in names):
            return held
        assert time.monotonic() < deadline, f"not every lease held: {held}"
        time.sleep(0.1)


async def wait_identical(
    crm: Crm, store_url: str, schema: str | None, seconds: float = 180, logs: Workers | None = None
) -> None:
    """Until the store holds exactly the CRM's records (``seconds`` at most)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            await assert_identical(crm, store_url, schema)
            return
        except (AssertionError, sa.exc.NoSuchTableError, KeyError):
            if time.monotonic() > deadline:
                if logs is not None:
                    print(logs.logs())
                raise
        await asyncio.sleep(0.5)


def counters(store_url: str, schema: str | None) -> dict[str, dict[str, int]]:
    engine = create_engine_for(store_url, schema=schema)
    try:
        found = StateStore(engine).counters.by_mapping()
        return {name: counts.as_dict() for name, counts in found.items()}
    finally:
        engine.dispose()
