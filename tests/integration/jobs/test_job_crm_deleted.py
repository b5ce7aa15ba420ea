"""The ``crm`` import_deleted and delete operations against both emulators."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from jobs_support import CONTACT, ID, LAST, Harness, crm_job

from crmsync.connectors.base import WriteOp
from crmsync.jobs.runner import RunFailed


def _tag() -> str:
    return "D" + uuid.uuid4().hex[:10]


async def _create(harness: Harness, tag: str, count: int) -> list[str]:
    d = harness.crm.dialect
    results = await harness.write(
        [WriteOp("create", CONTACT[d], {LAST[d]: tag}) for _ in range(count)]
    )
    assert all(r.ok for r in results)
    return [str(r.id) for r in results]


def _deleted_job(harness: Harness, start: str, end: str) -> str:
    return crm_job(
        harness,
        f"""\
    start: {start}
    end: {end}
    next: out
  out:
    kind: deduplicate
    keys: [{ID[harness.crm.dialect]}]""",
        name="del",
        step="deleted",
        operation="import_deleted",
    )


def _delete_job(harness: Harness, process_rejects: bool) -> str:
    branch = "    process_rejects: true\n    on_reject: rejected\n" if process_rejects else ""
    return crm_job(
        harness,
        f"""\
    id_field: crm_id
{branch}  rejected:
    kind: wait
    seconds: 0""",
        name="delete",
        step="remove",
        operation="delete",
    )


async def test_delete_by_ids_with_per_record_rejects(harness: Harness) -> None:
    d = harness.crm.dialect
    tag = _tag()
    ids = await _create(harness, tag, 3)
    missing = "6f1c2d4e-0000-4000-8000-0000000dead0" if d == "dataverse" else "003000000000000AAA"
    rows = [{"crm_id": ids[0]}, {"crm_id": ids[1]}, {"crm_id": missing}, {"crm_id": None}]
    run_id = await harness.run_with_input(_delete_job(harness, True), rows)
    where = f"{LAST[d]} eq '{tag}'" if d == "dataverse" else f"{LAST[d]} = '{tag}'"
    left = await harness.read(CONTACT[d], [LAST[d]], where)
    assert [r.id for r in left] == [ids[2]]
    rejects = harness.store.rejects(run_id)
    assert [r["record"]["crm_id"] for r in rejects] == [None, missing]
    assert all(r["errorSymbol"] and r["errorMessage"] for r in rejects)
    branch = next(s for s in harness.store.steps(run_id) if s.step == "rejected")
    assert len(branch.rows) == 2


async def test_import_deleted_in_a_period(harness: Harness) -> None:
    d = harness.crm.dialect
    clock = harness.crm.emulator.clock
    today = clock.now().date()
    start = {"from": (clock.now() - timedelta(days=1)).isoformat()}
    job = _deleted_job(harness, "{var: from}", today.isoformat())
    if d == "dataverse":
        # Change tracking starts at the first run: deletions are known from then on.
        harness.now = clock.now().replace(microsecond=0)
        start = {"from": harness.now.isoformat()}
        first = await harness.run(job, **start)
        harness.now = None
        assert harness.store.run(first).status == "succeeded"  # type: ignore[union-attr]
        start = {"from": harness.store.option("DELETESINCE_del_deleted") or ""}
    tag = _tag()
    ids = await _create(harness, tag, 3)
    results = await harness.write([WriteOp("delete", CONTACT[d], id=i) for i in ids[:2]])
    assert all(r.ok for r in results)
    if d == "salesforce":
        clock.advance(120)  # the delete log serves whole minutes
    try:
        run_id = await harness.run(job, **start)
    finally:
        clock.set(datetime.now(UTC))
    rows = next(s for s in harness.store.steps(run_id) if s.step == "out").rows
    found = {str(row[ID[d]]) for row in rows}
    assert set(ids[:2]) <= found
    assert ids[2] not in found
    assert all(row["deleted_at"] for row in rows if row[ID[d]] in ids[:2])


async def test_import_deleted_refuses_a_period_the_crm_cannot_serve(harness: Harness) -> None:
    d = harness.crm.dialect
    old = (datetime.now(UTC) - timedelta(days=40)).date().isoformat()
    job = _deleted_job(harness, old, datetime.now(UTC).date().isoformat())
    limit = "15 days" if d == "salesforce" else "known from change tracking only since"
    with pytest.raises(RunFailed, match=limit):
        await harness.run(job)
