"""The automatic index against both emulators over HTTPS, on both stores: a window ends at the
CRM's clock, the next one reads again an overlap before it, and nothing is imported twice.

crmsync's own clock is the emulator's unless a test sets it apart; the emulator's clock is put
back after each test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from jobs_support import CONTACT, EMAIL, FIRST, ID, LAST, Harness, crm_job

from crmsync.connectors.base import WriteOp
from crmsync.store import create_engine_for, publish

OPTION = "LASTIMPORT_win_read"


@pytest.fixture(params=["sqlite", "postgresql"])
def campaign(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """The Campaign store, which keeps the job tables (the option and the overlap's records)."""
    if request.param == "postgresql":
        engine: sa.Engine = request.getfixturevalue("pg_engine")
        publish(engine, [])
        yield engine
        return
    engine = create_engine_for(f"sqlite:///{tmp_path / 'campaign.db'}")
    publish(engine, [])
    yield engine
    engine.dispose()


@pytest.fixture
def harness(harness: Harness) -> Iterator[Harness]:
    try:
        yield harness
    finally:
        harness.crm.emulator.clock.set(datetime.now(UTC))


def _job(harness: Harness, tag: str) -> str:
    d = harness.crm.dialect
    return crm_job(
        harness,
        f"""\
    fields: [{{name: {FIRST[d]}}}, {{name: {EMAIL[d]}}}]
    filter: [{{field: {LAST[d]}, op: eq, value: "{tag}"}}]
    automatic_index: {{}}
    next: out
  out:
    kind: deduplicate
    keys: [{ID[d]}]""",
        name="win",
    )


async def _create(harness: Harness, tag: str, first: str) -> str:
    d = harness.crm.dialect
    values: dict[str, object] = {LAST[d]: tag, FIRST[d]: first}
    (result,) = await harness.write([WriteOp("create", CONTACT[d], values)])
    assert result.ok, result
    assert result.id
    return result.id


async def _edit(harness: Harness, record_id: str, email: str) -> None:
    d = harness.crm.dialect
    (result,) = await harness.write([WriteOp("update", CONTACT[d], {EMAIL[d]: email}, record_id)])
    assert result.ok, result


async def _import(harness: Harness, tag: str) -> tuple[dict[str, object], int]:
    """Run the job: what the import step gave (id → e-mail) and the count it recorded.

    A second passes on the CRM's clock first: a record stamped in the second the window ends
    at belongs to the next window.
    """
    d = harness.crm.dialect
    harness.crm.emulator.clock.advance(1)
    run_id = await harness.run(_job(harness, tag))
    steps = {s.step: s for s in harness.store.steps(run_id)}
    assert steps["read"].status == "done"
    rows = steps["out"].rows if "out" in steps else []
    assert len({row[ID[d]] for row in rows}) == len(rows), "a record given twice"
    return {str(row[ID[d]]): row[EMAIL[d]] for row in rows}, steps["read"].counts["read"]


async def test_an_edit_is_imported_when_the_crm_clock_is_behind(harness: Harness) -> None:
    tag = "W" + uuid.uuid4().hex[:10]
    harness.clock = lambda: datetime.now(UTC)
    harness.crm.emulator.clock.advance(-30)  # the CRM's clock runs 30 s behind crmsync's
    edited = await _create(harness, tag, "edited")
    kept = await _create(harness, tag, "kept")
    first, count = await _import(harness, tag)
    assert set(first) == {edited, kept}
    assert count == 2
    await _edit(harness, edited, "new@example.com")
    second, count = await _import(harness, tag)
    assert second == {edited: "new@example.com"}  # "kept", read again in the overlap, is not
    assert count == 1
    third, count = await _import(harness, tag)
    assert third == {}
    assert count == 0


async def test_a_late_commit_behind_the_window_end_is_imported(harness: Harness) -> None:
    """A record committed after the previous import with a stamp before that window's end
    (both clocks agree)."""
    tag = "W" + uuid.uuid4().hex[:10]
    clock = harness.crm.emulator.clock
    early = await _create(harness, tag, "early")
    first, _ = await _import(harness, tag)
    assert set(first) == {early}
    window_end = datetime.strptime(harness.store.option(OPTION) or "", "%Y/%m/%d %H:%M:%S")
    clock.advance(-20)  # this write's transaction began 20 s earlier and commits only now
    late = await _create(harness, tag, "late")
    clock.advance(20)
    stamp = await _stamp(harness, late)
    assert stamp < window_end.replace(tzinfo=UTC)
    second, count = await _import(harness, tag)
    assert set(second) == {late}
    assert count == 1


async def test_a_record_changed_again_inside_the_overlap_is_imported_once(
    harness: Harness,
) -> None:
    tag = "W" + uuid.uuid4().hex[:10]
    clock = harness.crm.emulator.clock
    record = await _create(harness, tag, "twice")
    other = await _create(harness, tag, "once")
    first, _ = await _import(harness, tag)
    assert set(first) == {record, other}
    clock.advance(-10)  # changed again with a stamp inside the window already imported
    await _edit(harness, record, "again@example.com")
    clock.advance(10)
    second, count = await _import(harness, tag)
    assert second == {record: "again@example.com"}
    assert count == 1
    third, count = await _import(harness, tag)
    assert (third, count) == ({}, 0)


async def _stamp(harness: Harness, record_id: str) -> datetime:
    from crmsync.connectors.salesforce.soql import parse_datetime

    d = harness.crm.dialect
    modified = {"dataverse": "modifiedon", "salesforce": "SystemModstamp"}[d]
    where = f"contactid eq {record_id}" if d == "dataverse" else f"Id = '{record_id}'"
    (found,) = await harness.read(CONTACT[d], [modified], where=where)
    return parse_datetime(str(found.values[modified]))
