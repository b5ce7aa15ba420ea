"""The inbound engine's Salesforce cursor at its edges: many records sharing one
``SystemModstamp`` across a query page and across polling rounds, a run that dies mid-round, and a
delete log purged while nobody read it (the emulator's clock moved past the retention)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from inbound_salesforce_support import (
    CONTACTS_MAPPING,
    SfCrm,
    make_config,
    running_salesforce,
    whole_second,
)
from inbound_support import run_once, store_rows, sync_state

from crmsync.connectors.base import WriteOp
from crmsync.connectors.salesforce import SalesforceConnector
from crmsync.connectors.salesforce import cursor as cursor_module
from crmsync.emulators.common.faults import Fault
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.errors import CrmsyncError
from crmsync.sync.writer import version_number

#: More than one query batch (the connector asks for 2,000 records per batch).
CONTACTS = 2500
FIELDS = ("FirstName", "LastName", "MailingCity", "SystemModstamp")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[SfCrm]:
    with running_salesforce(tls, contacts=CONTACTS) as running:
        yield running


def _read(config: object, before: int) -> int:
    return sync_state(config).counters.by_mapping()["contacts"].read - before  # type: ignore[arg-type]


async def test_one_timestamp_across_a_page_and_across_rounds(crm: SfCrm, tmp_path: Path) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    await run_once(config)
    ids = sorted(await crm.rows("Contact", FIELDS))
    assert len(ids) == CONTACTS

    # Every record gets the same SystemModstamp: the round's query spans two batches of it.
    tie = whole_second(5)
    crm.touch("Contact", ids, tie)
    before = sync_state(config).counters.by_mapping()["contacts"].read
    await run_once(config)
    assert _read(config, before) == CONTACTS
    # Nothing is read twice in the next round, though all of it is inside the overlap window.
    before += CONTACTS
    await run_once(config)
    assert _read(config, before) == 0

    # Half are stamped, read, then the other half is committed late with the very same stamp.
    later = tie + timedelta(seconds=5)
    crm.touch("Contact", ids[:1000], later)
    await run_once(config)
    assert _read(config, before) == 1000
    crm.touch("Contact", ids[1000:2200], later)
    await run_once(config)
    assert _read(config, before) == 2200
    rows = store_rows(config, "profile", "external_id")
    expected = version_number(later.isoformat())
    assert sorted(k for k, r in rows.items() if r["source_version"] == expected) == ids[:2200]


async def test_a_run_that_dies_mid_round_loses_and_doubles_nothing(
    crm: SfCrm, tmp_path: Path
) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    await run_once(config)
    ids = sorted(await crm.rows("Contact", FIELDS))
    await crm.write(
        *(
            WriteOp("update", "Contact", {"FirstName": f"N{n}", "MailingCity": "Lund"}, id=i)
            for n, i in enumerate(ids)
        )
    )
    # The second batch of the round's query fails for good: the first batch is already in the
    # queue, the cursor is not saved.
    crm.emulator.faults.add(Fault("status", status=400, path=r"/query(All)?/[^/?]+-\d+", times=1))
    with pytest.raises(CrmsyncError, match="MALFORMED_REQUEST"):
        await run_once(config, ack_wait_seconds=1)
    assert not crm.emulator.faults.pending()
    # Messages the dead run had taken come back after the acknowledgement wait.
    await run_once(config, ack_wait_seconds=1)
    crm_rows = await crm.rows("Contact", FIELDS)
    stored = store_rows(config, "profile", "external_id")
    assert len(stored) == CONTACTS
    assert {k: (r["first_name"], r["city"]) for k, r in stored.items()} == {
        k: (v["FirstName"], v["MailingCity"]) for k, v in crm_rows.items()
    }


def test_the_date_header_follows_the_emulator_clock(crm: SfCrm) -> None:
    crm.emulator.clock.advance(3 * 86_400)
    context = ssl.create_default_context(cafile=str(crm.tls.ca))
    with httpx.Client(verify=context) as http:
        answer = http.get(f"{crm.url}/services/data/")
    [date] = answer.headers.get_list("date")
    gap = parsedate_to_datetime(date) - crm.emulator.clock.now()
    assert abs(gap.total_seconds()) < 5


async def test_a_purged_delete_log_means_a_snapshot_that_reconciles_deletes(
    crm: SfCrm, tmp_path: Path
) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    await run_once(config)
    ids = sorted(await crm.rows("Contact", FIELDS))
    victims = ids[:3]
    await crm.write(*(WriteOp("delete", "Contact", id=i) for i in victims))
    await crm.write(WriteOp("update", "Contact", {"FirstName": "Still"}, id=ids[3]))
    # Nobody reads for 16 days: the recycle bin and the delete log forget the deletions.
    crm.emulator.clock.advance(16 * 86_400)
    summary = await run_once(config)
    stored = store_rows(config, "profile", "external_id")
    assert set(stored) == set(ids[3:])
    assert stored[ids[3]]["first_name"] == "Still"
    assert summary.counters["contacts"].deleted == len(victims)


async def _round(connector: SalesforceConnector, cursor: str | None) -> tuple[int, str]:
    """One change-tracking round: how many records it delivered, and the next cursor."""
    delivered = 0
    async for page in connector.track_changes("Contact", ["FirstName"], cursor):
        delivered += len(page.records)
        cursor = page.cursor or cursor
    assert cursor is not None
    return delivered, cursor


async def test_more_ties_than_the_cursor_remembers_are_not_delivered_again(
    crm: SfCrm, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm.touch("Contact", sorted(await crm.rows("Contact", FIELDS)), whole_second(5))
    async with crm.connector() as connector:
        delivered, cursor = await _round(connector, None)
        assert delivered == CONTACTS
        # Inside the overlap window every tie is remembered, in a few bytes each.
        again, cursor = await _round(connector, cursor)
        assert again == 0
        assert len(cursor) < CONTACTS * 20 + 1000
        # More ties than a cursor keeps (the same as past MAX_SEEN, at a test's size): the
        # excess comes again, but only while the window is open.
        monkeypatch.setattr(cursor_module, "MAX_SEEN", 1000)
        again, cursor = await _round(connector, cursor)
        assert again == 0
        again, cursor = await _round(connector, cursor)
        assert again == CONTACTS - 1000
    crm.emulator.clock.advance(61)
    # A new connection first reads the org's clock (Date), now past the window: it is closed.
    async with crm.connector() as connector:
        again, cursor = await _round(connector, cursor)
        assert again == 0
        assert not cursor_module.ChangeCursor.decode(cursor).seen
        again, cursor = await _round(connector, cursor)
        assert again == 0
