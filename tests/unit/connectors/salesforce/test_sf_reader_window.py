"""Change tracking at the overlap window's edges: the window closes once the org's clock is past
it, and a second change within one timestamp is delivered again with a greater version."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from connector_fakes import FakeTime
from sf_fakes import NOW, ROOT, FakeOrg

from crmsync.connectors.base import ChangePage
from crmsync.connectors.salesforce import ChangeCursor, SalesforceConnector
from crmsync.connectors.salesforce import cursor as cursor_module


async def _round(connector: SalesforceConnector, cursor: str | None) -> list[ChangePage]:
    return [page async for page in connector.track_changes("Contact", ["LastName"], cursor)]


def _versions(pages: list[ChangePage]) -> dict[str, object]:
    return {r.id: r.version for p in pages for r in p.records}


def _last_query(org: FakeOrg) -> str:
    queries = [r for r in org.requests if r.url.path == f"{ROOT}queryAll/"]
    return parse_qs(queries[-1].url.query.decode())["q"][0]


def _later(org: FakeOrg, time: FakeTime, seconds: float) -> None:
    """The org's clock and the local one move on together, as they do in life."""
    org.now += timedelta(seconds=seconds)
    time.now += seconds


async def test_the_window_closes_once_the_org_clock_is_past_it(
    connector: SalesforceConnector, org: FakeOrg, fake_time: FakeTime
) -> None:
    ties = {org.add("Contact", LastName=f"T{i}") for i in range(5)}
    snapshot = await _round(connector, None)
    assert set(_versions(snapshot)) == ties
    _later(org, fake_time, 30)
    still_open = await _round(connector, snapshot[-1].cursor)
    assert _versions(still_open) == {}
    assert ">= 2026-03-01T11:59:00.000Z" in _last_query(org)
    assert len(ChangeCursor.decode(still_open[-1].cursor or "").seen) == 5

    _later(org, fake_time, 31)  # 61 s past the position: no late commit can still come
    late = org.add("Contact", NOW - timedelta(seconds=5), LastName="Too late")
    fresh = org.add("Contact", LastName="Fresh")
    closed = await _round(connector, still_open[-1].cursor)
    last_id = max(ties)
    assert _last_query(org).endswith(
        "WHERE SystemModstamp > 2026-03-01T12:00:00.000Z OR (SystemModstamp = "
        f"2026-03-01T12:00:00.000Z AND Id > '{last_id}') ORDER BY SystemModstamp,Id"
    )
    assert set(_versions(closed)) == {fresh}
    assert late not in _versions(closed)
    cursor = ChangeCursor.decode(closed[-1].cursor or "")
    assert set(cursor.seen) == {cursor_module.id_key(fresh)}  # the ties are forgotten
    assert (cursor.timestamp, cursor.last_id) == ("2026-03-01T12:01:01.000Z", fresh)


async def test_more_ties_than_remembered_come_again_only_while_the_window_is_open(
    connector: SalesforceConnector,
    org: FakeOrg,
    fake_time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cursor_module, "MAX_SEEN", 50)
    for i in range(120):
        org.add("Contact", LastName=f"T{i}")
    snapshot = await _round(connector, None)
    assert len(_versions(snapshot)) == 120
    again = await _round(connector, snapshot[-1].cursor)
    assert len(_versions(again)) == 70  # the oldest of the window, forgotten
    _later(org, fake_time, 61)
    closed = await _round(connector, again[-1].cursor)
    assert _versions(closed) == {}
    quiet = await _round(connector, closed[-1].cursor)
    assert _versions(quiet) == {}
    assert ChangeCursor.decode(quiet[-1].cursor or "").seen == {}


async def test_a_second_change_within_one_timestamp_comes_with_a_greater_version(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    target = org.add("Contact", LastName="First")
    other = org.add("Contact", LastName="Other")
    snapshot = await _round(connector, None)
    assert _versions(snapshot)[target] == "2026-03-01T12:00:00.000000Z"
    cursor = snapshot[-1].cursor
    # Changed again within the same second: the same SystemModstamp, other values.
    for n, name in enumerate(("Second", "Third", "First"), start=1):
        org.rows["Contact"][target]["LastName"] = name
        pages = await _round(connector, cursor)
        assert _versions(pages) == {target: f"2026-03-01T12:00:00.00000{n}Z"}
        assert [r.values["LastName"] for p in pages for r in p.records] == [name]
        cursor = pages[-1].cursor
    unchanged = await _round(connector, cursor)
    assert _versions(unchanged) == {}
    # Deleted within that same second too: the recycle-bin row is a change, not a repeat.
    org.delete("Contact", other)
    gone = await _round(connector, unchanged[-1].cursor)
    assert [d.id for p in gone for d in p.deletions] == [other]
    assert _versions(gone) == {}


async def test_a_new_timestamp_starts_the_versions_again(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    target = org.add("Contact", LastName="First")
    snapshot = await _round(connector, None)
    org.rows["Contact"][target]["LastName"] = "Second"
    bumped = await _round(connector, snapshot[-1].cursor)
    assert _versions(bumped) == {target: "2026-03-01T12:00:00.000001Z"}
    org.now += timedelta(seconds=1)
    org.add("Contact", Id=target, LastName="Third")
    later = await _round(connector, bumped[-1].cursor)
    assert _versions(later) == {target: "2026-03-01T12:00:01.000000Z"}
