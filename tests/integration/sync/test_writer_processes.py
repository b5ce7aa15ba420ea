"""The inbound writer side in processes of its own: the same results as in one process, their
progress reported by the engine, a failing writer process fails the run, and a writer process
whose engine was killed stops by itself."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from inbound_support import (
    CONTACTS_MAPPING,
    ENV,
    SUBSCRIPTION_RESOURCE,
    SUBSCRIPTIONS_MAPPING,
    Crm,
    config_text,
    make_config,
    run_once,
    running_crm,
    store_rows,
)

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.errors import FatalError
from crmsync.sync.engine import EngineOptions, InboundEngine
from crmsync.sync.writer_process import WriterProcesses, WriterSpec


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(tls, contacts=300, accounts=5, page_size=100) as running:
        yield running


class Recorded:
    """An InboundProgress that keeps the totals it was given."""

    def __init__(self) -> None:
        self.read_total = 0
        self.written_total = 0

    def read(self, _mapping: str, count: int) -> None:
        self.read_total += count

    def written(self, _mapping: str, count: int) -> None:
        self.written_total += count

    def backlog(self, _mapping: str, _count: int) -> None:
        pass

    def close(self) -> None:
        pass


async def test_writer_processes_give_the_same_store(crm: Crm, tmp_path: Path) -> None:
    config = make_config(
        crm, tmp_path, CONTACTS_MAPPING + SUBSCRIPTIONS_MAPPING, SUBSCRIPTION_RESOURCE
    )
    progress = Recorded()
    options = EngineOptions(writer_processes=1)
    async with InboundEngine(config, environ=ENV, options=options, progress=progress) as engine:
        summary = await engine.run(once=True)
    contacts = await crm.rows("contact", ("firstname",))
    subscriptions = await crm.rows("crmsync_subscription", ("crmsync_name",))
    assert set(store_rows(config, "profile", "external_id")) == set(contacts)
    assert set(store_rows(config, "subscription", "crm_id")) == set(subscriptions)
    written = summary.counters["contacts"].read + summary.counters["subscriptions"].read
    assert progress.written_total == written == len(contacts) + len(subscriptions)
    assert progress.read_total == written

    first, second = sorted(contacts)[:2]
    await crm.write(
        WriteOp("update", "contact", {"firstname": "Grace"}, id=first),
        WriteOp("delete", "contact", id=second),
    )
    summary = await run_once(config, writer_processes=2)
    stored = store_rows(config, "profile", "external_id")
    assert stored[first]["first_name"] == "Grace"
    assert second not in stored
    counts = summary.counters["contacts"]
    assert (counts.updated, counts.deleted) == (1, 1)


async def test_a_failing_writer_process_is_reported(crm: Crm, tmp_path: Path) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    (tmp_path / "queue.db").mkdir()  # the writer process cannot open its queue
    spec = WriterSpec(config, {}, EngineOptions(), os.getpid())
    processes = WriterProcesses(spec, 1)
    await processes.start()
    try:
        for _ in range(100):
            reason = await processes.failure()
            if reason is not None:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the writer process did not fail")
    finally:
        await processes.stop()
    assert "exited with status 1" in reason
    assert "queue.db" in reason


async def test_the_engine_fails_when_its_writer_process_fails(crm: Crm, tmp_path: Path) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    async with InboundEngine(
        config, environ=ENV, options=EngineOptions(writer_processes=1)
    ) as engine:
        # The engine opened its queue; the writer process will find a directory in its place.
        (tmp_path / "queue.db").rename(tmp_path / "queue-moved.db")
        (tmp_path / "queue.db").mkdir()
        with pytest.raises(FatalError, match=r"writer process .* exited with status 1"):
            await engine.run(once=True)


def test_a_writer_process_stops_when_its_engine_is_killed(crm: Crm, tmp_path: Path) -> None:
    config = tmp_path / "crmsync.yaml"
    config.write_text(config_text(crm.url, crm.tls.ca, tmp_path, CONTACTS_MAPPING))
    engine = subprocess.Popen(
        [sys.executable, "-m", "crmsync", "run", "--config", str(config), "--no-progress"],
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    group = engine.pid
    try:
        deadline = time.monotonic() + 30
        while not _members(group) - {engine.pid}:
            assert time.monotonic() < deadline, "no writer process started"
            time.sleep(0.1)
        engine.send_signal(signal.SIGKILL)
        engine.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _members(group):
            assert time.monotonic() < deadline, "a writer process outlived its engine"
            time.sleep(0.1)
    finally:
        if _members(group):
            os.killpg(group, signal.SIGKILL)


def _members(group: int) -> set[int]:
    """The live processes of a process group (zombies excluded)."""
    members: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == group:
            members.add(int(entry.name))
    return members


def test_a_negative_number_of_writer_processes_is_refused() -> None:
    with pytest.raises(ValueError, match="writer_processes"):
        EngineOptions(writer_processes=-1)
