from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs

import pytest
from sf_fakes import NOW, ROOT, FakeOrg, sf_time

from crmsync.connectors.base import ChangePage
from crmsync.connectors.salesforce import ChangeCursor, SalesforceConnector
from crmsync.connectors.salesforce.cursor import id_key
from crmsync.errors import ConfigurationError

T = TypeVar("T")


async def _all(iterator: AsyncIterator[T]) -> list[T]:
    return [item async for item in iterator]


def _queries(org: FakeOrg) -> list[str]:
    return [
        parse_qs(r.url.query.decode())["q"][0]
        for r in org.requests
        if r.url.path in (f"{ROOT}query/", f"{ROOT}queryAll/")
    ]


def _ids(pages: list[ChangePage]) -> list[str]:
    return [r.id for p in pages for r in p.records]


async def _round(connector: SalesforceConnector, cursor: str | None) -> list[ChangePage]:
    pages: list[ChangePage] = await _all(connector.track_changes("Contact", ["LastName"], cursor))
    assert [p.cursor is not None for p in pages] == [False] * (len(pages) - 1) + [True]
    return pages


async def test_read_all_follows_next_records_url(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    for i in range(450):
        org.add("Contact", LastName=f"Name {i}", Email=f"c{i}@example.com")
    pages = await _all(connector.read_all("Contact", ["LastName"]))
    assert [len(p) for p in pages] == [200, 200, 50]
    records = [r for p in pages for r in p]
    assert len({r.id for r in records}) == 450
    first = records[0]
    assert set(first.values) == {"LastName", "Id", "SystemModstamp"}  # no "attributes"
    assert first.version == "2026-03-01T12:00:00.000000Z"
    requests = [r for r in org.requests if "query" in r.url.path]
    assert all(r.headers["Sforce-Query-Options"] == "batchSize=200" for r in requests)
    assert [r.url.path for r in requests][1:] == [
        f"{ROOT}query/01g00000-200",
        f"{ROOT}query/01g00000-400",
    ]
    assert _queries(org) == ["SELECT LastName,Id,SystemModstamp FROM Contact"]


async def test_read_all_checks_field_names(connector: SalesforceConnector) -> None:
    with pytest.raises(ConfigurationError, match="no field 'Password'"):
        await _all(connector.read_all("Contact", ["LastName", "Password"]))


async def test_snapshot_then_only_changes(connector: SalesforceConnector, org: FakeOrg) -> None:
    ids = [org.add("Contact", NOW - timedelta(minutes=i), LastName=f"N{i}") for i in range(5)]
    snapshot = await _round(connector, None)
    assert all(p.snapshot for p in snapshot)
    assert _ids(snapshot) == list(reversed(ids))  # ordered by (SystemModstamp, Id)
    assert "ORDER BY SystemModstamp,Id" in _queries(org)[0]
    org.now += timedelta(minutes=5)
    new_id = org.add("Contact", LastName="New")
    org.rows["Contact"][ids[0]].update(LastName="Changed", SystemModstamp=sf_time(org.now))
    org.delete("Contact", ids[1])
    deleted_at = org.now
    org.now += timedelta(minutes=1)  # the delete log serves minutes that are over
    delta = await _round(connector, snapshot[-1].cursor)
    assert not any(p.snapshot for p in delta)
    assert {r.id: r.values["LastName"] for p in delta for r in p.records} == {
        ids[0]: "Changed",
        new_id: "New",
    }
    assert [d.id for p in delta for d in p.deletions] == [ids[1]]
    assert delta[-1].deletions[0].deleted_at == deleted_at
    assert _queries(org)[1] == (
        "SELECT LastName,Id,SystemModstamp,IsDeleted FROM Contact WHERE SystemModstamp >= "
        "2026-03-01T11:59:00.000Z ORDER BY SystemModstamp,Id"
    )
    assert all(
        set(r.values) == {"Id", "LastName", "SystemModstamp"} for p in delta for r in p.records
    )
    quiet = await _round(connector, delta[-1].cursor)
    assert _ids(quiet) == []
    assert [d for p in quiet for d in p.deletions] == []


async def test_ties_across_page_boundaries_are_neither_lost_nor_repeated(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    first = {org.add("Contact", LastName=f"T{i}") for i in range(450)}
    snapshot = await _round(connector, None)
    assert [len(p.records) for p in snapshot] == [200, 200, 50]
    assert set(_ids(snapshot)) == first
    assert len(_ids(snapshot)) == 450
    # Records committed later with the very same timestamp as the last one seen.
    late = {org.add("Contact", LastName=f"L{i}") for i in range(250)}
    delta = await _round(connector, snapshot[-1].cursor)
    assert sorted(_ids(delta)) == sorted(late)
    again = await _round(connector, delta[-1].cursor)
    assert _ids(again) == []


async def test_overlap_catches_late_commits_with_earlier_timestamps(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    org.add("Contact", LastName="Seen")
    snapshot = await _round(connector, None)
    late = org.add("Contact", NOW - timedelta(seconds=30), LastName="Late")
    too_late = org.add("Contact", NOW - timedelta(seconds=90), LastName="Too late")
    delta = await _round(connector, snapshot[-1].cursor)
    assert _ids(delta) == [late]  # within overlap_seconds (60); older ones need a resync
    assert too_late not in _ids(delta)


async def test_cursor_keeps_only_the_overlap_window(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    old = org.add("Contact", NOW - timedelta(hours=1), LastName="Old")
    recent = org.add("Contact", NOW - timedelta(seconds=10), LastName="Recent")
    newest = org.add("Contact", NOW, LastName="Newest")
    snapshot = await _round(connector, None)
    cursor = ChangeCursor.decode(snapshot[-1].cursor or "")
    assert cursor.timestamp == "2026-03-01T12:00:00.000Z"
    assert cursor.last_id == newest
    assert set(cursor.seen) == {id_key(recent), id_key(newest)}
    assert id_key(old) not in cursor.seen
    assert ChangeCursor.decode(cursor.encode()) == cursor


async def test_delete_windows_follow_the_delete_log_rules(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    gone = org.add("Contact", LastName="Gone")
    snapshot = await _round(connector, None)
    org.now += timedelta(seconds=30)
    soon = await _round(connector, snapshot[-1].cursor)  # less than a minute: no delete call
    assert not any("deleted" in r.url.path for r in org.requests)
    org.now += timedelta(minutes=3)
    org.delete("Contact", gone)
    org.now += timedelta(minutes=1)
    later = await _round(connector, soon[-1].cursor)
    (call,) = [r for r in org.requests if "deleted" in r.url.path]
    params = parse_qs(call.url.query.decode())
    assert params == {"start": ["2026-03-01T11:59:00+00:00"], "end": ["2026-03-01T12:04:00+00:00"]}
    assert [d.id for p in later for d in p.deletions] == [gone]
    assert ChangeCursor.decode(later[-1].cursor or "").deleted_since == "2026-03-01T12:04:00.000Z"


async def test_purged_delete_log_restarts_as_a_snapshot(
    connector: SalesforceConnector, org: FakeOrg, caplog: pytest.LogCaptureFixture
) -> None:
    ids = {org.add("Contact", LastName=f"N{i}") for i in range(3)}
    snapshot = await _round(connector, None)
    org.now += timedelta(days=20)
    org.earliest_deleted = org.now - timedelta(days=15)
    with caplog.at_level(logging.WARNING):
        pages = await _round(connector, snapshot[-1].cursor)
    assert all(p.snapshot for p in pages)
    assert set(_ids(pages)) == ids
    assert "reading the object in full" in caplog.text


async def test_undeleted_records_are_not_reported_deleted(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    back = org.add("Contact", LastName="Back")
    snapshot = await _round(connector, None)
    org.now += timedelta(minutes=2)
    org.delete("Contact", back)
    org.now += timedelta(minutes=1)
    org.add("Contact", Id=back, LastName="Back again")  # undeleted: a new SystemModstamp
    org.now += timedelta(minutes=2)
    delta = await _round(connector, snapshot[-1].cursor)
    assert _ids(delta) == [back]
    assert [d for p in delta for d in p.deletions] == []


async def test_damaged_and_foreign_cursors(
    connector: SalesforceConnector, org: FakeOrg, make_connector: Any
) -> None:
    org.add("Contact", LastName="A")
    for damaged in ("nonsense", "sf1.!!!", "sf1.e30="):
        with pytest.raises(ConfigurationError, match="cursor"):
            await _round(connector, damaged)
    snapshot = await _round(connector, None)
    other = make_connector(cursor_field="LastModifiedDate")
    pages = await _all(other.track_changes("Contact", None, snapshot[-1].cursor))
    assert all(p.snapshot for p in pages)


async def test_objects_that_cannot_be_tracked(connector: SalesforceConnector) -> None:
    with pytest.raises(ConfigurationError, match="not replicateable"):
        await _all(connector.track_changes("Log__c", None, None))


async def test_deleted_between_dates(connector: SalesforceConnector, org: FakeOrg) -> None:
    first = org.add("Contact", LastName="One")
    second = org.add("Contact", LastName="Two")
    org.delete("Contact", first, NOW - timedelta(days=2))
    org.delete("Contact", second, NOW - timedelta(hours=1))
    found = await connector.deleted("Contact", NOW - timedelta(days=3), NOW)
    assert [d.id for d in found] == [first, second]
    with pytest.raises(ConfigurationError, match="15 days"):
        await connector.deleted("Contact", NOW - timedelta(days=20), NOW)


async def test_recycle_bin_deletions_come_at_once_and_only_once(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    ids = [org.add("Contact", LastName=f"N{i}") for i in range(3)]
    snapshot = await _round(connector, None)
    org.now += timedelta(seconds=5)
    org.delete("Contact", ids[0])
    first = await _round(connector, snapshot[-1].cursor)  # no whole minute yet: from the bin
    assert [d.id for p in first for d in p.deletions] == [ids[0]]
    assert first[-1].deletions[0].deleted_at == org.now
    org.now += timedelta(minutes=3)
    second = await _round(connector, first[-1].cursor)  # the delete log now lists it too
    assert any("deleted" in r.url.path for r in org.requests)
    assert [d for p in second for d in p.deletions] == []
    assert _ids(second) == []


async def test_hard_deletes_come_from_the_delete_log(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    ids = [org.add("Contact", LastName=f"N{i}") for i in range(3)]
    snapshot = await _round(connector, None)
    org.now += timedelta(minutes=1)
    org.delete("Contact", ids[2])
    org.purge("Contact", ids[2])  # gone from the recycle bin before the next round
    org.now += timedelta(minutes=2)
    delta = await _round(connector, snapshot[-1].cursor)
    assert [d.id for p in delta for d in p.deletions] == [ids[2]]


async def test_deleted_periods_must_be_longer_than_a_minute(
    connector: SalesforceConnector,
) -> None:
    with pytest.raises(ConfigurationError, match="longer than one minute"):
        await connector.deleted("Contact", NOW - timedelta(seconds=30), NOW)
