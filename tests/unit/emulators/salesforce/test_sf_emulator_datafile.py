"""A Salesforce emulator on a seeded data file: a restart keeps the data, and query locators
page over many records by key set, each batch a range read of an index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.datafile import DataFileError
from crmsync.emulators.salesforce.app import SalesforceEmulator, create_emulator
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.emulators.salesforce.query import QueryService


def _start(
    path: Path, contacts: int, subscriptions: int = 0, accounts: int = 20
) -> SalesforceEmulator:
    settings = SalesforceEmulatorSettings(
        data_file=path,
        seed_contacts=contacts,
        seed_accounts=accounts,
        seed_subscriptions=subscriptions,
    )
    return create_emulator(settings, clock=Clock())


def _run(emulator: SalesforceEmulator, soql: str, batch: int) -> tuple[list[Any], int]:
    """Every record of ``soql`` through its query locators: (records, batches)."""
    service = QueryService(emulator.store, emulator.clock)
    page = service.start(soql, version="62.0", all_rows=False, batch=batch, purge_before=None)
    records, batches = list(page["records"]), 1
    while not page["done"]:
        page = service.more(page["nextRecordsUrl"].rsplit("/", 1)[1], version="62.0")
        records += page["records"]
        batches += 1
    return records, batches


def test_a_restart_on_the_file_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "org.db"
    first = _start(path, contacts=300, subscriptions=40)
    before, _ = _run(first, "SELECT Id, Email, SystemModstamp FROM Contact", 2000)
    first.close()
    for seeded in (True, False):  # the same seed, or none: the file as it is
        again = (
            _start(path, contacts=300, subscriptions=40)
            if seeded
            else _start(path, contacts=0, accounts=0)
        )
        after, _ = _run(again, "SELECT Id, Email, SystemModstamp FROM Contact", 2000)
        assert after == before
        assert len(_run(again, "SELECT Id FROM Subscription__c", 2000)[0]) == 40
        again.close()
    with pytest.raises(DataFileError, match="contacts=300,accounts=20,subscriptions=40"):
        _start(path, contacts=300, subscriptions=41)


@pytest.mark.parametrize(
    ("soql", "index"),
    [
        ("SELECT Id, LastName FROM Contact", "PRIMARY KEY"),
        (
            "SELECT Id, LastName FROM Contact ORDER BY SystemModstamp, Id",
            "INDEX ix_Contact_modstamp",
        ),
    ],
)
def test_locators_page_over_many_records_each_once_from_an_index(
    tmp_path: Path, soql: str, index: str
) -> None:
    """20,000 contacts in batches of 200: every id exactly once, each batch after the first a
    key-set range read of an index (no OFFSET, no sort of the records after the position)."""
    emulator = _start(tmp_path / "org.db", contacts=20_000)
    statements: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "LIMIT" in statement and "count(" not in statement:
            statements.append((statement, parameters))

    sa.event.listen(emulator.store.engine, "before_cursor_execute", before)
    records, batches = _run(emulator, soql, 200)
    sa.event.remove(emulator.store.engine, "before_cursor_execute", before)
    ids = [record["Id"] for record in records]
    assert len(ids) == len(set(ids)) == 20_000
    assert batches == len(statements) == 100
    with emulator.store.reading() as conn:
        for number, (statement, parameters) in enumerate(statements):
            assert "OFFSET ?" not in statement or parameters[-1] == 0
            plan = " | ".join(
                str(row[-1])
                for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            assert "TEMP B-TREE" not in plan, plan
            if number:
                assert f"SEARCH Contact USING {index} (" in plan, plan
    emulator.close()
