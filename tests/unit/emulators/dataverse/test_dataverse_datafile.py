"""A Dataverse emulator on a seeded data file: compact rows that read as rendered ones, a
restart that keeps the data and every token, and key-set paging over many rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from dv_emulator_support import BASE
from starlette.applications import Starlette
from starlette.routing import Mount

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.dataverse.app import DataverseEmulator, create_emulator
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.dataverse.formatting import AnnotationMode
from crmsync.emulators.dataverse.query import parse_options, read_page
from crmsync.emulators.dataverse.seed import seed
from crmsync.emulators.dataverse.store import DataverseStore
from crmsync.emulators.dataverse.webapi import WebApi


class FixedClock:
    def now(self) -> datetime:
        return datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _start(path: Path, contacts: int, accounts: int = 10) -> DataverseEmulator:
    settings = DataverseEmulatorSettings(
        data_file=path, seed_contacts=contacts, seed_accounts=accounts
    )
    return create_emulator(settings, clock=Clock())


@asynccontextmanager
async def _client(emulator: DataverseEmulator) -> AsyncIterator[httpx.AsyncClient]:
    api = WebApi(emulator.store, emulator.settings)
    app = Starlette(routes=[Mount("/api/data/v9.2", app=api)])
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE + "/"
        ) as client:
            yield client
    finally:
        api.read_ahead.close()


async def _pages(
    client: httpx.AsyncClient, url: str, prefer: str
) -> tuple[list[dict[str, Any]], str | None, int]:
    """Every record of a paged read: (records, delta link, pages)."""
    records: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url is not None:
        answer = await client.get(next_url, headers={"Prefer": prefer})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages += 1
        records += body["value"]
        next_url = body.get("@odata.nextLink")
        if next_url is None:
            return records, body.get("@odata.deltaLink"), pages
    raise AssertionError("unreachable")


def _read_all(store: DataverseStore, table_name: str, mode: AnnotationMode) -> list[bytes]:
    table = store.schema.by_logical_name[table_name]
    return read_page(
        store, table, parse_options(table, {}), page_size=10_000, annotations=mode
    ).rows


@pytest.mark.parametrize("mode", ["none", "formatted", "all"])
def test_rows_seeded_compact_into_a_file_read_as_rendered_ones(
    tmp_path: Path, mode: AnnotationMode
) -> None:
    """A file is seeded without each row's stored JSON text (a fifth of the size); reads render
    it, byte for byte what a store that keeps the text sends."""
    rendered = DataverseStore.open(None, FixedClock())
    seed(rendered, contacts=300, accounts=12)
    compact = DataverseStore.open(tmp_path / "crm.db", FixedClock(), bulk=True)
    seed(compact, contacts=300, accounts=12, render=False)
    with compact.reading() as conn:
        stored = conn.exec_driver_sql(
            "SELECT count(*) FROM contact WHERE _json IS NOT NULL OR _annotations IS NOT NULL"
        ).scalar_one()
    assert stored == 0
    for name in ("contact", "account", "crmsync_subscription"):
        expected = _read_all(rendered, name, mode)
        assert len(expected) > 10
        assert _read_all(compact, name, mode) == expected
    rendered.close()
    compact.close()


async def test_a_write_to_a_compact_row_is_read_back(tmp_path: Path) -> None:
    emulator = _start(tmp_path / "crm.db", contacts=50)
    async with _client(emulator) as client:
        records, _, _ = await _pages(client, "accounts?$select=name", "odata.maxpagesize=5000")
        account = records[0]["accountid"]
        assert (
            await client.patch(f"accounts({account})", json={"name": "Renamed Ltd"})
        ).status_code == 204
        prefer = 'odata.include-annotations="*"'
        contacts, _, _ = await _pages(client, "contacts", prefer)
    emulator.close()
    linked = [c for c in contacts if c["_parentcustomerid_value"] == account]
    assert linked
    label = "_parentcustomerid_value@OData.Community.Display.V1.FormattedValue"
    assert {c[label] for c in linked} == {"Renamed Ltd"}


async def test_a_restart_on_the_file_keeps_the_data_and_its_tokens(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    first = _start(path, contacts=250)
    prefer = "odata.track-changes,odata.maxpagesize=100"
    async with _client(first) as client:
        answer = await client.get("contacts?$select=lastname", headers={"Prefer": prefer})
        page_one = answer.json()
        next_link = page_one["@odata.nextLink"]
        everything, delta_link, _ = await _pages(client, "contacts?$select=lastname", prefer)
    first.close()
    assert delta_link is not None
    made = path.stat().st_mtime_ns

    # The same seed (or none) opens the same file: nothing is seeded again.
    for again in (_start(path, contacts=250), _start(path, contacts=0, accounts=0)):
        assert again.store.count(again.store.schema.by_logical_name["contact"]) == 250
        again.close()
    second = _start(path, contacts=250)
    async with _client(second) as client:
        # A next link and a delta link issued before the restart still work.
        rest, _, _ = await _pages(client, next_link, prefer)
        assert [r["contactid"] for r in page_one["value"] + rest] == [
            r["contactid"] for r in everything
        ]
        unchanged, delta_link, _ = await _pages(client, delta_link, prefer)
        assert unchanged == []
        changed = everything[7]["contactid"]
        patch = await client.patch(f"contacts({changed})", json={"lastname": "After"})
        assert patch.status_code == 204
        changes, _, _ = await _pages(client, delta_link, prefer)
    second.close()
    assert [(c["contactid"], c["lastname"]) for c in changes] == [(changed, "After")]
    with pytest.raises(ValueError, match="was made with --seed contacts=250,accounts=10"):
        _start(path, contacts=251)
    assert path.stat().st_mtime_ns != made  # the write went to the same file


def _capture(store: DataverseStore) -> tuple[list[tuple[str, Any]], Callable[[], None]]:
    statements: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "LIMIT" in statement:
            statements.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", before)
    return statements, lambda: sa.event.remove(store.engine, "before_cursor_execute", before)


def _plan(store: DataverseStore, statement: str, parameters: Any) -> str:
    with store.reading() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    return " | ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize(
    ("prefer", "index"),
    [
        ("odata.maxpagesize=700", "PRIMARY KEY"),
        ("odata.track-changes,odata.maxpagesize=700", "INDEX ix_contact_version"),
    ],
)
async def test_paging_over_many_rows_returns_each_once_from_an_index(
    tmp_path: Path, prefer: str, index: str
) -> None:
    """20,000 contacts in pages of 700: every id exactly once, each page a key-set range read
    of an index (no OFFSET, no sort of the rows after the position)."""
    emulator = _start(tmp_path / "crm.db", contacts=20_000, accounts=50)
    statements, stop = _capture(emulator.store)
    async with _client(emulator) as client:
        records, _, pages = await _pages(client, "contacts?$select=lastname", prefer)
    stop()
    ids = [record["contactid"] for record in records]
    assert len(ids) == len(set(ids)) == 20_000
    assert pages == 29
    assert len(statements) == pages
    for number, (statement, parameters) in enumerate(statements):
        # SQLAlchemy writes "LIMIT ? OFFSET ?" for SQLite: the offset must be 0.
        assert statement.rstrip().endswith("LIMIT ? OFFSET ?")
        assert parameters[-1] == 0
        plan = _plan(emulator.store, statement, parameters)
        assert "TEMP B-TREE" not in plan, plan
        if number:  # the first page reads from the start of the index (SCAN … LIMIT)
            assert f"SEARCH contact USING {index}" in plan, plan
    emulator.close()
