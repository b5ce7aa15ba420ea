"""Queries: SOQL semantics over the store, keyset paging, locators, errors."""

# ruff: noqa: S608 - the statements built here are SOQL sent to the emulator, on purpose

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.salesforce.errors import ApiError
from crmsync.emulators.salesforce.query import QueryService, batch_size_option
from crmsync.emulators.salesforce.seed import seed
from crmsync.emulators.salesforce.store import SalesforceStore
from crmsync.emulators.salesforce.writes import Writer


@pytest.fixture
def store(clock: Clock) -> Iterator[SalesforceStore]:
    store = SalesforceStore.open(None, clock)
    seed(store, contacts=450, accounts=5)
    yield store
    store.close()


@pytest.fixture
def service(store: SalesforceStore, clock: Clock) -> QueryService:
    return QueryService(store, clock, idle_seconds=900)


def add(store: SalesforceStore, **fields: Any) -> str:
    contact = store.schema.get("Contact")
    assert contact is not None
    with store.transaction() as conn:
        return Writer(store).create(conn, contact, fields)


def run(
    service: QueryService, soql: str, *, batch: int = 2000, all_rows: bool = False
) -> list[Any]:
    page = service.start(soql, version="62.0", all_rows=all_rows, batch=batch, purge_before=None)
    records = list(page["records"])
    while not page["done"]:
        locator = page["nextRecordsUrl"].rsplit("/", 1)[1]
        page = service.more(locator, version="62.0")
        records += page["records"]
    return records


def names(service: QueryService, where: str) -> set[str]:
    return {r["LastName"] for r in run(service, f"SELECT LastName FROM Contact WHERE {where}")}


def test_first_page_shape(service: QueryService) -> None:
    page = service.start(
        "SELECT Id, Email FROM Contact",
        version="62.0",
        all_rows=False,
        batch=200,
        purge_before=None,
    )
    assert page["totalSize"] == 450
    assert page["done"] is False
    assert page["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    assert page["nextRecordsUrl"].endswith("-200")
    first = page["records"][0]
    assert list(first) == ["attributes", "Id", "Email"]
    assert first["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v62.0/sobjects/Contact/{first['Id']}",
    }


@pytest.mark.parametrize("batch", [200, 333, 2000])
def test_paging_returns_every_record_once_in_order(service: QueryService, batch: int) -> None:
    soql = "SELECT Id, Title FROM Contact ORDER BY Title DESC NULLS LAST, LastName"
    records = run(service, soql, batch=batch)
    assert len(records) == 450
    assert len({r["Id"] for r in records}) == 450
    titles = [r["Title"] for r in records]
    present = [t for t in titles if t is not None]
    assert present == sorted(present, key=str.lower, reverse=True)
    assert titles[len(present) :] == [None] * (450 - len(present))


def test_nulls_first_is_the_default(service: QueryService) -> None:
    records = run(service, "SELECT Title FROM Contact ORDER BY Title", batch=200)
    titles = [r["Title"] for r in records]
    nulls = titles.count(None)
    assert nulls > 0
    assert titles[:nulls] == [None] * nulls


def test_a_batch_can_be_asked_for_again(service: QueryService) -> None:
    page = service.start(
        "SELECT Id FROM Contact", version="62.0", all_rows=False, batch=200, purge_before=None
    )
    locator = page["nextRecordsUrl"].rsplit("/", 1)[1]
    again = service.more(locator, version="62.0")
    assert service.more(locator, version="62.0")["records"] == again["records"]


def test_locators_expire_and_unknown_ones_are_refused(service: QueryService, clock: Clock) -> None:
    page = service.start(
        "SELECT Id FROM Contact", version="62.0", all_rows=False, batch=200, purge_before=None
    )
    locator = page["nextRecordsUrl"].rsplit("/", 1)[1]
    with pytest.raises(ApiError) as caught:
        service.more(locator.replace("-200", "-300"), version="62.0")
    assert caught.value.code == "INVALID_QUERY_LOCATOR"
    clock.advance(901)
    with pytest.raises(ApiError) as caught:
        service.more(locator, version="62.0")
    assert caught.value.code == "INVALID_QUERY_LOCATOR"


def test_limit_offset_and_count(service: QueryService) -> None:
    everything = run(service, "SELECT Id FROM Contact")
    limited = run(service, "SELECT Id FROM Contact LIMIT 250 OFFSET 10", batch=200)
    assert [r["Id"] for r in limited] == [r["Id"] for r in everything[10:260]]
    page = service.start(
        "SELECT COUNT() FROM Contact WHERE HasOptedOutOfEmail = false",
        version="62.0",
        all_rows=False,
        batch=2000,
        purge_before=None,
    )
    assert page["done"] is True
    assert page["records"] == []
    opted_out = run(service, "SELECT Id FROM Contact WHERE HasOptedOutOfEmail = true")
    assert page["totalSize"] == 450 - len(opted_out)


def test_filters(service: QueryService, store: SalesforceStore) -> None:
    add(store, LastName="Under_score", Title="50% off")
    add(store, LastName="Underxscore", Title=None, Email="UPPER@Example.com")
    add(store, LastName="O'Brien", Title="Dr")
    assert names(service, r"LastName LIKE 'under\_score'") == {"Under_score"}
    assert names(service, "LastName LIKE 'Under_score'") == {"Under_score", "Underxscore"}
    assert names(service, r"Title LIKE '50\%%'") == {"Under_score"}
    assert names(service, r"LastName = 'o\'brien'") == {"O'Brien"}
    assert names(service, "Email = 'upper@example.com'") == {"Underxscore"}
    # SOQL's != and NOT IN also match null values.
    found = names(service, "LastName LIKE 'Under%' AND Title != 'Dr'")
    assert found == {"Under_score", "Underxscore"}
    found = names(service, "LastName LIKE 'Under%' AND Title NOT IN ('50% off')")
    assert found == {"Underxscore"}
    assert names(service, "LastName LIKE 'Under%' AND Title = null") == {"Underxscore"}
    assert names(service, "LastName LIKE 'Under%' AND NOT Title = 'Dr'") == {
        "Under_score",
        "Underxscore",
    }
    assert names(service, r"(LastName = 'O\'Brien' OR LastName IN ('Under_score'))") == {
        "Under_score",
        "O'Brien",
    }


def test_dates_datetimes_and_relative_literals(
    service: QueryService, store: SalesforceStore, clock: Clock
) -> None:
    new = add(store, LastName="Fresh", Birthdate="1990-05-17")
    assert names(service, "Birthdate = 1990-05-17 AND LastName = 'Fresh'") == {"Fresh"}
    assert names(service, "CreatedDate = TODAY AND LastName = 'Fresh'") == {"Fresh"}
    assert names(service, "CreatedDate = LAST_N_DAYS:1 AND LastName = 'Fresh'") == {"Fresh"}
    assert names(service, "CreatedDate < YESTERDAY AND LastName = 'Fresh'") == set()
    now = clock.now()
    earlier = now.strftime("%Y-%m-%dT%H:%M:%S") + "+01:00"  # one hour earlier in UTC
    found = run(service, f"SELECT Id FROM Contact WHERE CreatedDate > {earlier}")
    assert new in {r["Id"] for r in found}
    with pytest.raises(ApiError) as caught:
        run(service, "SELECT Id FROM Contact WHERE CreatedDate > 2024-01-01")
    assert caught.value.code == "INVALID_FIELD"
    assert "must be of type dateTime" in caught.value.message


def test_booleans_numbers_and_ids(service: QueryService, store: SalesforceStore) -> None:
    first = add(store, LastName="Points", Loyalty_Points__c=12.5, DoNotCall=True)
    add(store, LastName="Points", Loyalty_Points__c=2)
    found = run(
        service,
        "SELECT Id, DoNotCall FROM Contact WHERE Loyalty_Points__c > 10 AND LastName = 'Points'",
    )
    assert found == [
        {
            "attributes": {
                "type": "Contact",
                "url": f"/services/data/v62.0/sobjects/Contact/{first}",
            },
            "Id": first,
            "DoNotCall": True,
        }
    ]
    assert len(run(service, f"SELECT Id FROM Contact WHERE Id = '{first[:15]}'")) == 1
    with pytest.raises(ApiError) as caught:
        run(service, "SELECT Id FROM Contact WHERE Id = 'nope'")
    assert caught.value.code == "INVALID_QUERY_FILTER_OPERATOR"
    with pytest.raises(ApiError) as caught:
        run(service, "SELECT Id FROM Contact WHERE DoNotCall = 'true'")
    assert "must be of type boolean" in caught.value.message


def test_parent_fields_are_nested(service: QueryService) -> None:
    records = run(service, "SELECT Id, Account.Name, Account.Industry FROM Contact ORDER BY Id")
    linked = [r for r in records if r["Account"] is not None]
    unlinked = [r for r in records if r["Account"] is None]
    assert linked
    assert unlinked
    parent = linked[0]["Account"]
    assert list(parent) == ["attributes", "Name", "Industry"]
    assert parent["attributes"]["type"] == "Account"
    filtered = run(service, f"SELECT Id FROM Contact WHERE Account.Name = '{parent['Name']}'")
    assert linked[0]["Id"] in {r["Id"] for r in filtered}


def test_query_all_sees_deleted_records(service: QueryService, store: SalesforceStore) -> None:
    doomed = add(store, LastName="Doomed")
    contact = store.schema.get("Contact")
    assert contact is not None
    with store.transaction() as conn:
        Writer(store).delete(conn, contact, doomed)
    assert run(service, "SELECT Id FROM Contact WHERE LastName = 'Doomed'") == []
    [record] = run(
        service, "SELECT Id, IsDeleted FROM Contact WHERE LastName = 'Doomed'", all_rows=True
    )
    assert record["IsDeleted"] is True


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT Id FROM Nope", "INVALID_TYPE", "sObject type 'Nope' is not supported."),
        ("SELECT Id, Nope FROM Contact", "INVALID_FIELD", "No such column 'Nope' on entity"),
        ("SELECT Nope.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Nope'"),
        ("SELECT Id, Id FROM Contact", "MALFORMED_QUERY", "duplicate field selected: Id"),
        ("SELECT Id FROM Contact WHERE Email LIKE 5", "INVALID_FIELD", "LIKE"),
        ("SELECT Id FROM Contact WHERE Email < null", "MALFORMED_QUERY", "null"),
        ("SELECT Id FROM Contact ORDER BY Nope", "INVALID_FIELD", "No such column 'Nope'"),
    ],
)
def test_errors(service: QueryService, soql: str, code: str, fragment: str) -> None:
    with pytest.raises(ApiError) as caught:
        run(service, soql)
    assert caught.value.status == 400
    assert caught.value.code == code
    assert fragment in caught.value.message
    assert "ERROR at Row:1:Column:" in caught.value.message


def test_hostile_values_are_only_compared(service: QueryService, store: SalesforceStore) -> None:
    evil = "x'); DROP TABLE Contact; --"
    add(store, LastName=evil)
    escaped = evil.replace("'", "\\'")
    assert names(service, f"LastName = '{escaped}'") == {evil}
    assert len(run(service, "SELECT Id FROM Contact")) == 451


@pytest.mark.parametrize(
    ("header", "size"),
    [
        (None, 2000),
        ("batchSize=500", 500),
        ("batchSize=10", 200),
        ("batchSize=9000", 2000),
        ("foo=1, batchSize=300", 300),
        ("batchSize=abc", 2000),
    ],
)
def test_batch_size_option(header: str | None, size: int) -> None:
    assert batch_size_option(header, 2000) == size


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=80))
def test_any_stored_text_is_found_by_equality(
    service: QueryService, store: SalesforceStore, value: str
) -> None:
    record_id = add(store, LastName=value)
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    found = run(service, f"SELECT Id, LastName FROM Contact WHERE LastName = '{escaped}'")
    assert record_id in {r["Id"] for r in found}
    assert all(r["LastName"].lower() == value.lower() for r in found)
