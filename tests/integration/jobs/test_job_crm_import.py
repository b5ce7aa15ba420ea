"""The ``crm`` import step against both emulators over HTTPS: filters, conversions, order,
upstream population and the automatic index (window boundaries included)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jobs_support import CONTACT, EMAIL, FIRST, ID, LAST, MODIFIED, Harness, crm_job

from crmsync.connectors.base import WriteOp
from crmsync.jobs.runner import RunFailed


def _tag() -> str:
    return "J" + uuid.uuid4().hex[:10]


async def _create(harness: Harness, rows: list[dict[str, object]]) -> list[str]:
    table = CONTACT[harness.crm.dialect]
    results = await harness.write([WriteOp("create", table, values) for values in rows])
    assert all(r.ok for r in results), results
    return [r.id for r in results]


def _output(harness: Harness, run_id: str, step: str = "read") -> list[dict[str, object]]:
    """The input of the last execution of ``step`` (what the step before it gave)."""
    return [s for s in harness.store.steps(run_id) if s.step == step][-1].rows


async def test_import_filters_orders_and_adds_the_id(harness: Harness) -> None:
    d = harness.crm.dialect
    tag = _tag()
    await _create(
        harness,
        [
            {LAST[d]: tag, FIRST[d]: "Zoé", EMAIL[d]: "z@example.com"},
            {LAST[d]: tag, FIRST[d]: "O'Brien", EMAIL[d]: "o@example.com"},
            {LAST[d]: tag, FIRST[d]: "Anna", EMAIL[d]: None},
            {LAST[d]: tag + "x", FIRST[d]: "Other", EMAIL[d]: "x@example.com"},
        ],
    )
    job = crm_job(
        harness,
        f"""    fields: [{{name: {FIRST[d]}}}, {{name: {EMAIL[d]}, as: email}}]
    filter:
      - {{field: {LAST[d]}, op: eq, value: "{tag}"}}
      - join: and
        group:
          - {{field: {EMAIL[d]}, op: is_not_empty}}
          - {{join: or, field: {FIRST[d]}, op: starts_with, value: "O'B"}}
    order_by: [{{field: {FIRST[d]}, direction: desc}}]
    next: out
  out:
    kind: deduplicate
    keys: [{ID[d]}]
""",
    )
    run_id = await harness.run(job)
    rows = _output(harness, run_id, "out")
    assert [row[FIRST[d]] for row in rows] == ["Zoé", "O'Brien"]
    assert all(isinstance(row[ID[d]], str) and row[ID[d]] for row in rows)
    assert rows[0]["email"] == "z@example.com"
    assert harness.store.run(run_id).status == "succeeded"  # type: ignore[union-attr]


async def test_import_by_upstream_ids(harness: Harness) -> None:
    d = harness.crm.dialect
    tag = _tag()
    ids = await _create(harness, [{LAST[d]: tag, FIRST[d]: str(n)} for n in range(5)])
    job = f"""
name: up
steps:
  read:
    kind: crm
    operation: import
    connection: {harness.crm.connection}
    object: {CONTACT[d]}
    fields: [{{name: {FIRST[d]}}}]
    upstream: {{field: crm_id}}
    next: out
  out:
    kind: deduplicate
    keys: [{ID[d]}]
"""
    from crmsync.jobs import load_job_text

    parsed = load_job_text(job)
    runner, pool = harness.runner()
    run_id = harness.store.create_run("up", "<t>", job, {}, "read")
    # Seed the first execution with upstream rows, as a Campaign query would give them.
    with harness.store.engine.begin() as conn:
        from crmsync.jobs.store import dumps

        steps = harness.store.t.steps
        conn.execute(
            steps.update()
            .where(steps.c.run_id == run_id)
            .values(input=dumps([{"crm_id": ids[1]}, {"crm_id": ids[3]}, {"crm_id": None}]))
        )
    try:
        await runner._drive(run_id, parsed)
    finally:
        await pool.aclose()
    rows = _output(harness, run_id, "out")
    assert sorted(str(row[FIRST[d]]) for row in rows) == ["1", "3"]


class CrmClockAt:
    """The connector, with the CRM's clock read as ``at``: where the import window ends."""

    def __init__(self, connector: Any, at: datetime) -> None:
        self._connector = connector
        self.at = at

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connector, name)

    def server_time(self) -> datetime:
        return self.at


async def test_automatic_index_boundary_ties(harness: Harness) -> None:
    d = harness.crm.dialect
    tag = _tag()
    clock = harness.crm.emulator.clock
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    job = crm_job(
        harness,
        f"""    fields: [{{name: {FIRST[d]}}}]
    filter: [{{field: {LAST[d]}, op: eq, value: "{tag}"}}]
    automatic_index: {{}}
    next: out
  out:
    kind: deduplicate
    keys: [{ID[d]}]
""",
    )
    crm_now = base
    harness.wrap = lambda connector: CrmClockAt(connector, crm_now)
    try:
        clock.set(base - timedelta(seconds=1))
        await _create(harness, [{LAST[d]: tag, FIRST[d]: "before"}])
        clock.set(base)
        await _create(harness, [{LAST[d]: tag, FIRST[d]: "tie"}])
        first = await harness.run(job)  # the window ends exactly at the second of "tie"
        assert [r[FIRST[d]] for r in _output(harness, first, "out")] == ["before"]
        variables = harness.store.variables(first)
        assert variables["crmOptionName"] == "LASTIMPORT_imp_read"
        assert variables["crmStartImport"] == ""
        assert variables["crmEndDate"] == base.strftime("%Y/%m/%d %H:%M:%S")
        assert harness.store.option("LASTIMPORT_imp_read") == variables["crmEndDate"]
        clock.set(base + timedelta(seconds=5))
        await _create(harness, [{LAST[d]: tag, FIRST[d]: "after"}])
        crm_now = base + timedelta(seconds=10)
        second = await harness.run(job)
        names = sorted(str(r[FIRST[d]]) for r in _output(harness, second, "out"))
        # "before" is read again in the overlap, and left out: imported unchanged already.
        assert names == ["after", "tie"]
        assert harness.store.variables(second)["crmStartImport"] == variables["crmEndDate"]
        third = await harness.run(job)
        assert _output(harness, third, "out") == []
        # A user moves the option back: the window re-imports from there (and its overlap).
        harness.store.set_option("LASTIMPORT_imp_read", variables["crmEndDate"])
        fourth = await harness.run(job)
        assert len(_output(harness, fourth, "out")) == 3
        assert MODIFIED[d] in _output(harness, fourth, "out")[0]
    finally:
        clock.set(datetime.now(UTC))


async def test_unknown_field_fails_the_run_naming_the_condition(harness: Harness) -> None:
    job = crm_job(
        harness,
        """    filter: [{field: nosuchfield, op: eq, value: 1}]
""",
    )
    with pytest.raises(RunFailed, match=r"filter\[0\].*nosuchfield"):
        await harness.run(job)


async def test_a_bad_option_value_is_a_clear_error(harness: Harness) -> None:
    job = crm_job(harness, "    automatic_index: {option: LASTIMPORT_bad}\n")
    harness.store.set_option("LASTIMPORT_bad", "2024-01-01")
    with pytest.raises(RunFailed, match="yyyy/MM/dd hh:mm:ss"):
        await harness.run(job)
