"""Crash safety of two-way traffic (SPEC §7): ``crmsync run`` on a two-way mapping of contacts,
killed with SIGKILL at random moments while both sides keep editing, and restarted each time,
ends with both sides equal, on either CRM and either database.

The traffic follows a plan per record (:data:`~twoway_crash_support.PLANS`): the Campaign edits
some columns with SQL, the CRM others through its API; a column of a record is edited by one side
only, so its intended final value is known. On some records both sides edit the same column:
there only the sides' agreement is asserted (the newer edit wins, and the CRM's time is the
record's, in whole seconds). After the kills, two ``crmsync run --once`` settle everything, then:

- both sides are equal on every merged column of every record;
- no CRM record is written twice: crmsync's writes of a record are the emulator's committed
  updates of it minus the test's own, and each is caused by a Campaign edit. A Campaign
  transaction that edits a record is sent at most once: a process killed after the CRM write and
  before its store transaction finds, after the restart, the CRM holding the Campaign values, and
  writes nothing; several edits of a record may go in one write, never one edit in two. So per
  record whose columns each have one editing side, crmsync's CRM writes ≤ the Campaign
  transactions that edited it (none for a record the Campaign never edited). A record whose column
  both sides edit is left out of this count: which side's edit wins decides what is written;
- nothing echoes: one more ``run --once`` writes no CRM record (every version stays);
- nothing is lost: every column holds, on both sides, the last value its editing side gave it,
  including a Campaign edit made while a round that was killed wrote the CRM (see
  ``test_twoway_killed_round``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from twoway_crash_support import (
    COLUMNS,
    Traffic,
    WriteCounter,
    crm_rows,
    kill,
    run_once,
    seeded_random,
    start,
    store_engine,
)
from twoway_support import ENV, Crm, config_text, profiles, running_crm, two_way_rows

from crmsync.config import Config, load_config_text
from crmsync.emulators.common.tls import TlsFiles
from crmsync.twoway.tables import BASES, CONFLICTS

CONTACTS = 300
#: Records each side edits in a traffic round.
PER_ROUND = 12


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(request.param, tls, contacts=CONTACTS) as running:
        yield running


async def _traffic(
    traffic: Traffic, crm: Crm, store: tuple[str, str | None], stop: asyncio.Event
) -> None:
    """Rounds of edits of both sides, a few hundredths to tenths of a second apart, until
    ``stop``."""
    engine = store_engine(store)
    try:
        async with crm.connector() as connector:
            while not stop.is_set():
                await traffic.round(connector, engine, PER_ROUND)
                await asyncio.sleep(traffic.rng.uniform(0.02, 0.2))
    finally:
        engine.dispose()


async def test_killed_during_two_way_traffic_ends_with_both_sides_equal(
    crm: Crm,
    tmp_path: Path,
    store_location: tuple[str, str | None],
) -> None:
    rng = seeded_random()
    config = tmp_path / "crmsync.yaml"
    config.write_text(config_text(crm, tmp_path, store_location), encoding="utf-8")
    run_once(config)  # the initial load
    ids = sorted(await crm.records())
    assert len(ids) == CONTACTS
    counter = WriteCounter(crm)
    traffic = Traffic.planned(crm, random.Random(rng.random()), ids)

    stop = asyncio.Event()
    edits = asyncio.create_task(_traffic(traffic, crm, store_location, stop))
    try:
        for _ in range(rng.randint(3, 4)):
            process = start(config)
            await asyncio.sleep(rng.uniform(0.8, 2.6))  # (~0.6 s: the process starts)
            kill(process, group=rng.random() < 0.5)
            assert not edits.done()
    finally:
        stop.set()
        await edits
    run_once(config)
    run_once(config)

    loaded = load_config_text(config.read_text(encoding="utf-8"), environ=ENV)
    records = await crm.records()
    crm_side, campaign_side = crm_rows(records, crm), profiles(loaded)
    unequal = {
        key: (crm_side[key], {c: campaign_side[key][c] for c in COLUMNS})
        for key in ids
        if any(crm_side[key][c] != campaign_side[key][c] for c in COLUMNS)
    }
    written = counter.counts() - traffic.crm_writes
    twice = {
        key: (count, traffic.campaign_rounds[key])
        for key, count in written.items()
        if count > traffic.campaign_rounds[key] and traffic.plans[key] != "both"
    }
    lost = {
        (key, column): (value, crm_side[key][column], campaign_side[key][column])
        for (key, column), value in traffic.expected.items()
        if not crm_side[key][column] == campaign_side[key][column] == value
    }
    for key in sorted(set(unequal) | set(twice) | {key for key, _ in lost})[:6]:
        _story(key, traffic, counter, loaded)
    assert unequal == {}, "records the two sides disagree on (CRM, Campaign)"
    assert twice == {}, "CRM writes beyond the Campaign edits (writes, Campaign edits)"
    assert sum(written.values()) > 0  # the Campaign edits did reach the CRM

    versions = {key: values["@version"] for key, values in records.items()}
    run_once(config)
    again = await crm.records()
    assert {key: values["@version"] for key, values in again.items()} == versions, "echoes"
    assert counter.counts() - traffic.crm_writes == written

    assert lost == {}, "edits lost (intended, CRM, Campaign)"


def _story(key: str, traffic: Traffic, counter: WriteCounter, config: Config) -> None:
    """Print what happened to one record: the test's edits and the CRM's updates, in time, then
    the conflicts the merge decided and the base it ended with."""
    print(f"record {key} ({traffic.plans[key]}):")
    for at, side, edited, values in traffic.log:
        if edited == key:
            print(f"  {at} {side} edit {values}")
    for row in counter.history(key):
        print(f"  {row[-1]} CRM updated to {row[:-1]}")
    for table in (CONFLICTS, BASES):
        for found in two_way_rows(config, table, key):
            print(f"  {table.name}: {found}")
