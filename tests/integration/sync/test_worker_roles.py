"""``crmsync run --role reader|writer`` processes on one configuration: each mapping read by one
reader at a time, writers sharing the queue, the store ending identical to the CRM with each
record written once; a reader killed or paused hands its mappings over, a writer killed mid-batch
loses nothing, the NATS server stopped and started again loses nothing; ``--once`` of each role.

Each runs on the deployments it is meant for (:func:`deployment`): the SQLite store and queue
(one machine), a PostgreSQL store with the SQLite queue, and a PostgreSQL store with the NATS
JetStream queue (several machines)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from crash_support import kill, write_config
from inbound_support import ENV, Crm, running_crm
from roles_support import (
    LEASES,
    Workers,
    counters,
    holders,
    queue_on_nats,
    wait_for_holders,
    wait_identical,
    workers,
)

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate
from nats_support import NatsServer

CONTACTS = 3000


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(tls, contacts=CONTACTS, accounts=10, page_size=300) as running:
        yield running


@dataclass(frozen=True)
class Deployment:
    """A configuration file of the test's, and the store it names."""

    config: Path
    url: str
    schema: str | None


#: Store and queue of each deployment.
SQLITE, POSTGRESQL, NATS = "sqlite", "postgresql", "postgresql+nats"
ON_POSTGRESQL = pytest.mark.parametrize("deployment", [POSTGRESQL, NATS], indirect=True)


@pytest.fixture(params=[SQLITE, POSTGRESQL, NATS])
def deployment(request: pytest.FixtureRequest, crm: Crm, tmp_path: Path) -> Deployment:
    if request.param == SQLITE:
        return Deployment(write_config(crm, tmp_path), f"sqlite:///{tmp_path / 'store.db'}", None)
    url, schema = request.getfixturevalue("postgres_url"), request.getfixturevalue("pg_schema")
    config = write_config(crm, tmp_path, store_url=url, pg_schema=schema)
    if request.param == NATS:
        queue_on_nats(
            config, request.getfixturevalue("nats_url"), request.getfixturevalue("nats_stream")
        )
    return Deployment(config, url, schema)


async def _changes(crm: Crm, ids: list[str], round_no: int) -> tuple[int, int, int]:
    """40 updates, 10 deletions and 10 creations of contacts; their numbers."""
    updated, deleted = ids[:40], ids[40:50]
    del ids[:50]
    ops = [
        WriteOp("update", "contact", {"address1_city": f"City {round_no}"}, id=record_id)
        for record_id in updated
    ]
    ops += [WriteOp("delete", "contact", id=record_id) for record_id in deleted]
    ops += [
        WriteOp("create", "contact", {"firstname": f"New{round_no}", "lastname": f"N{n}"})
        for n in range(10)
    ]
    await crm.write(*ops)
    return len(updated), len(deleted), 10


async def test_two_readers_and_three_writers_write_each_record_once(
    crm: Crm, tmp_path: Path, deployment: Deployment
) -> None:
    config, url, schema = deployment.config, deployment.url, deployment.schema
    ids = sorted(await crm.rows("contact", ("firstname",)))
    subscriptions = await crm.rows("crmsync_subscription", ("crmsync_name",))
    with workers(config, tmp_path) as started:
        readers = {started.start("reader").pid for _ in range(2)}
        writers = {started.start("writer", "--writer-processes", "0").pid for _ in range(3)}
        held = wait_for_holders(url, schema, LEASES)
        assert {held[name] for name in LEASES} <= readers
        await wait_identical(crm, url, schema, logs=started)
        updated, deleted, created = await _changes(crm, ids, 0)
        await wait_identical(crm, url, schema, logs=started)
        held = holders(url, schema)
        assert {held[name] for name in LEASES} <= readers
        # Every writer has taken its share of the work; the housekeeping has one doer.
        assert held.get("inbound-housekeeping") in writers
        assert started.stop() == [0] * 5, started.logs()
    found = counters(url, schema)
    contacts = found["contacts"]
    assert contacts["inserted"] == CONTACTS + created
    assert (contacts["updated"], contacts["deleted"], contacts["rejected"]) == (
        updated,
        deleted,
        0,
    )
    assert found["subscriptions"]["inserted"] == len(subscriptions)
    assert found["subscriptions"]["rejected"] == 0
    assert holders(url, schema) == {}  # every lease given up at the stop


async def _two_readers_loaded(
    started: Workers, crm: Crm, url: str, schema: str | None
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """Two readers and a writer, once the store equals the CRM: the reader holding the contacts
    mapping, and the other."""
    readers = [started.start("reader") for _ in range(2)]
    started.start("writer", "--writer-processes", "0")
    held = wait_for_holders(url, schema, LEASES)
    await wait_identical(crm, url, schema, logs=started)
    holder = next(p for p in readers if p.pid == held["inbound:contacts"])
    return holder, next(p for p in readers if p is not holder)


@ON_POSTGRESQL
async def test_a_killed_reader_hands_its_mappings_over(
    crm: Crm, tmp_path: Path, deployment: Deployment
) -> None:
    config, url, schema = deployment.config, deployment.url, deployment.schema
    ids = sorted(await crm.rows("contact", ("firstname",)))
    with workers(config, tmp_path) as started:
        victim, other = await _two_readers_loaded(started, crm, url, schema)
        kill(victim, group=True)
        await _changes(crm, ids, 1)
        await wait_identical(crm, url, schema, seconds=60, logs=started)
        held = holders(url, schema)
        assert {held[name] for name in LEASES} == {other.pid}
        started.processes.remove(victim)
        assert started.stop() == [0, 0], started.logs()


@pytest.mark.parametrize("deployment", [POSTGRESQL], indirect=True)
async def test_a_paused_reader_is_fenced_off_when_it_resumes(
    crm: Crm, tmp_path: Path, deployment: Deployment
) -> None:
    """SIGSTOP stands for a reader cut off from the store: its lease expires, the other reader
    takes it; resumed, the first learns it lost the lease and reads nothing more."""
    config, url, schema = deployment.config, deployment.url, deployment.schema
    ids = sorted(await crm.rows("contact", ("firstname",)))
    with workers(config, tmp_path) as started:
        paused, other = await _two_readers_loaded(started, crm, url, schema)
        log = tmp_path / f"reader-{started.processes.index(paused)}.log"
        os.killpg(paused.pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 30
            while holders(url, schema).get("inbound:contacts") != other.pid:
                assert time.monotonic() < deadline, "the lease was not taken over"
                await asyncio.sleep(0.2)
            await _changes(crm, ids, 2)
        finally:
            os.killpg(paused.pid, signal.SIGCONT)
        await wait_identical(crm, url, schema, seconds=60, logs=started)
        await asyncio.sleep(3)  # the resumed reader's heartbeat finds the lease lost
        held = holders(url, schema)
        assert {held[name] for name in LEASES} == {other.pid}
        await _changes(crm, ids, 3)
        await wait_identical(crm, url, schema, seconds=60, logs=started)
        assert started.stop() == [0, 0, 0], started.logs()
    assert "lost" in log.read_text()


@ON_POSTGRESQL
async def test_a_writer_killed_mid_batch_loses_nothing(
    crm: Crm, tmp_path: Path, deployment: Deployment
) -> None:
    config, url, schema = deployment.config, deployment.url, deployment.schema
    with workers(config, tmp_path) as started:
        started.start("reader")
        writers = [started.start("writer", "--writer-processes", "0") for _ in range(2)]
        deadline = time.monotonic() + 60
        while counters(url, schema).get("contacts", {}).get("inserted", 0) < 300:
            assert time.monotonic() < deadline, started.logs()
            await asyncio.sleep(0.05)
        kill(writers[0], group=True)
        started.processes.remove(writers[0])
        await wait_identical(crm, url, schema, logs=started)
        assert started.stop() == [0, 0], started.logs()
    found = counters(url, schema)
    assert found["contacts"]["inserted"] == CONTACTS
    assert found["contacts"]["rejected"] == found["subscriptions"]["rejected"] == 0


async def test_once_a_reader_catches_up_and_a_writer_drains_after_it(
    crm: Crm, tmp_path: Path, deployment: Deployment
) -> None:
    config, url, schema = deployment.config, deployment.url, deployment.schema
    with workers(config, tmp_path) as started:
        writer = started.start("writer", "--once", "--writer-processes", "0")
        await asyncio.sleep(1.5)
        assert writer.poll() is None, "the writer stopped before any mapping was read"
        reader = started.start("reader", "--once")
        assert reader.wait(timeout=120) == 0, started.logs()
        assert writer.wait(timeout=120) == 0, started.logs()
    await wait_identical(crm, url, schema, seconds=0)


def test_a_role_with_nothing_to_do_or_an_ignored_option_is_refused(
    crm: Crm, tmp_path: Path
) -> None:
    config = write_config(crm, tmp_path)

    def run(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "crmsync", "run", "--config", str(config), "--once", *options],
            env={**os.environ, **ENV, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    refused = run("--role", "reader", "--writer-processes", "2")
    assert refused.returncode == 1
    assert "--writer-processes is for a worker that writes" in refused.stderr
    unknown = run("--role", "serve")
    assert unknown.returncode == 2
    assert "'serve' is not one of 'all', 'reader', 'writer'" in unknown.stderr


async def test_the_nats_server_stopped_and_started_again_loses_nothing(
    crm: Crm,
    tmp_path: Path,
    postgres_url: str,
    pg_schema: str,
    nats_server: Callable[..., NatsServer],
) -> None:
    server = nats_server()
    config = write_config(crm, tmp_path, store_url=postgres_url, pg_schema=pg_schema)
    queue_on_nats(config, server.url, "CRMSYNC")
    made = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "crmsync", "queue", "init", "--config", str(config)],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    ids = sorted(await crm.rows("contact", ("firstname",)))
    with workers(config, tmp_path) as started:
        started.start("reader")
        for _ in range(2):
            started.start("writer", "--writer-processes", "0")
        deadline = time.monotonic() + 60
        while counters(postgres_url, pg_schema).get("contacts", {}).get("inserted", 0) < 300:
            assert time.monotonic() < deadline, started.logs()
            await asyncio.sleep(0.05)
        server.stop(kill=True)  # mid-load: messages waiting, some fetched and not acked
        await _changes(crm, ids, 4)
        await asyncio.sleep(3)
        server.start()
        await wait_identical(crm, postgres_url, pg_schema, logs=started)
        assert started.stop() == [0, 0, 0], started.logs()
    found = counters(postgres_url, pg_schema)
    assert found["contacts"]["inserted"] == CONTACTS + 10
    assert found["contacts"]["rejected"] == found["subscriptions"]["rejected"] == 0
