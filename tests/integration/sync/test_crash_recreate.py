"""Crash safety with records deleted and re-created with the same id: ``crmsync run`` (on
PostgreSQL with several writer processes) killed with SIGKILL, engine and writers, during an
initial load and during CRM changes made through the Web API — updates, creates, deletes, and
deletes followed by a re-creation of the same id (an upsert ``PATCH``) moments later — then run
again with ``--once``, leaves the Campaign store identical to the CRM.

Every other kill falls at a random moment; the others while a writer applies the deletions (the
test watches the queue for their message being leased), so that they are delivered again after
the re-creation has been applied: a delete must not remove a row newer than itself, and an older
change must not bring back a deleted record."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from crash_support import assert_identical, kill, run_once, seeded_random, start, write_config
from inbound_support import (
    Crm,
    running_crm,
)

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate

ROUNDS = 6
#: Contacts updated with each round's deletions (read with them, in the same queue message).
UPDATES = 600
#: Records a CRM page holds: a round's changes are read in one page, published in one message.
PAGE = 1000


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(tls, contacts=2000, accounts=10, page_size=PAGE) as running:
        yield running


class Changes:
    """CRM changes through the Web API. The ids deleted and re-created are those of contacts
    without subscriptions (a subscription of a deleted contact goes with it in the store, while
    the CRM keeps it)."""

    def __init__(self, crm: Crm, rng: random.Random, live: list[str], free: set[str]) -> None:
        self.crm, self.rng, self.live, self.free = crm, rng, live, free
        self.reborn: list[str] = []

    async def delete(self, round_no: int) -> None:
        """Delete contacts (most to be re-created) and update others, in one request."""
        rng = self.rng
        self.reborn = rng.sample(sorted(self.free), 15)
        gone = rng.sample(sorted(self.free - set(self.reborn)), 2)
        kept = [i for i in self.live if i not in self.reborn and i not in gone]
        moved = {"address1_city": f"Moved {round_no}"}
        await self.crm.write(
            *(WriteOp("delete", "contact", id=record_id) for record_id in self.reborn + gone),
            *(WriteOp("update", "contact", moved, id=i) for i in rng.sample(kept, UPDATES)),
        )
        for record_id in gone:
            self.live.remove(record_id)
            self.free.discard(record_id)

    async def re_create(self, round_no: int) -> None:
        """Create the deleted ones again with the same ids (upserts), and a new contact."""
        values = {"lastname": f"Reborn {round_no}", "address1_city": f"City {round_no}"}
        created = await self.crm.write(
            *(
                WriteOp("upsert", "contact", {**values, "firstname": f"R{n}"}, id=record_id)
                for n, record_id in enumerate(self.reborn)
            ),
            WriteOp("create", "contact", {"firstname": f"New{round_no}", "lastname": "N"}),
        )
        self.live.append(created[-1])
        self.free.add(created[-1])


async def _in_flight(queue: Path, changes: int, since: float, *, seconds: float) -> None:
    """Wait until a queue message of at least ``changes`` changes published after ``since``
    (``time.time()``) is being applied (leased by a writer, not acknowledged yet), ``seconds``
    at most."""
    deadline = time.monotonic() + seconds
    query = (
        "SELECT 1 FROM queue_messages"
        " WHERE lease IS NOT NULL AND change_count >= ? AND published_at >= ?"
    )
    with contextlib.closing(sqlite3.connect(f"file:{queue}?mode=ro", uri=True)) as conn:
        while time.monotonic() < deadline:
            leased = conn.execute(query, (changes, since)).fetchone()
            if leased is not None:
                return
            await asyncio.sleep(0.002)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
async def test_deleted_and_re_created_records_survive_kills(
    crm: Crm, tmp_path: Path, request: pytest.FixtureRequest, store: str
) -> None:
    rng = seeded_random()
    # Messages in flight when the engine is killed come back after 5 s: later than the changes
    # read and applied after the restart.
    extra: tuple[str, ...] = ("--ack-wait", "5")
    if store == "sqlite":
        store_url, schema = f"sqlite:///{tmp_path / 'store.db'}", None
    else:
        store_url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("pg_schema")
        extra += ("--writer-processes", "3")
    config = write_config(crm, tmp_path, store_url=store_url, pg_schema=schema)
    for _ in range(2):  # during the initial load
        process = start(config, *extra)
        await asyncio.sleep(rng.uniform(1.0, 2.5))
        kill(process, group=True)

    live = sorted(await crm.rows("contact", ("firstname",)))
    parents = await crm.rows("crmsync_subscription", ("crmsync_contactid",))
    linked = {values["_crmsync_contactid_value"] for values in parents.values()}
    changes = Changes(crm, rng, live, set(live) - linked)
    for round_no in range(ROUNDS):
        process = start(config, *extra)
        await asyncio.sleep(rng.uniform(1.0, 2.0))
        since = time.time()
        await changes.delete(round_no)
        if round_no % 2 == 0:  # killed at a random moment of the reading and writing
            await asyncio.sleep(rng.uniform(0.05, 0.6))
        else:  # killed while a writer applies the deletions: they come back after 5 s
            await _in_flight(tmp_path / "queue.db", UPDATES, since, seconds=5.0)
        kill(process, group=True)
        await changes.re_create(round_no)  # read at the restart
    run_once(config, *extra)
    await assert_identical(crm, store_url, schema)
