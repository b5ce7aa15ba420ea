"""Salesforce creates under way when an export stopped: looked up on resume, recorded when found,
sent again when not, reported ``IN_DOUBT`` only when the look-up cannot tell; and single records
failed inside a collection (the emulator's ``batch_item`` fault)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from jobs_support import CONTACT, FIRST, LAST, Crm, Harness, Interrupted

from crmsync.connectors.base import WriteOp
from crmsync.connectors.salesforce import created
from crmsync.emulators.common.faults import Fault
from crmsync.jobs import JobStore
from crmsync.jobs.runner import RunFailed


@pytest.fixture(autouse=True)
def _no_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    # Calls are over when the connector answers here; the kill tests keep the real wait.
    monkeypatch.setattr(created, "SETTLE_SECONDS", 0.0)


@pytest.fixture
def sf(salesforce: Crm, store: JobStore, campaign: sa.Engine) -> Harness:
    return Harness(salesforce, store, campaign)


def _job(harness: Harness, *, batch: bool) -> str:
    d = harness.crm.dialect
    return f"""
name: in-flight
steps:
  start:
    kind: wait
    seconds: 0
    next: export
  export:
    kind: crm
    operation: export
    connection: {harness.crm.connection}
    object: {CONTACT[d]}
    mapping:
      - {{campaign: last_name, crm: {LAST[d]}}}
      - {{campaign: first_name, crm: {FIRST[d]}}}
    batch: {str(batch).lower()}
"""


def _rows(tag: str, first_names: list[str]) -> list[dict[str, Any]]:
    return [{"last_name": tag, "first_name": name} for name in first_names]


async def _first_names(harness: Harness, tag: str) -> Counter[str]:
    d = harness.crm.dialect
    where = f"{LAST[d]} eq '{tag}'" if d == "dataverse" else f"{LAST[d]} = '{tag}'"
    records = await harness.read(CONTACT[d], [FIRST[d]], where)
    return Counter(str(r.values[FIRST[d]]) for r in records)


async def _interrupted_then_resumed(
    harness: Harness, rows: list[dict[str, Any]], *, batch: bool, call: int, written: bool
) -> str:
    harness.wrap = lambda inner: Interrupted(inner, call=call, written=written)
    with pytest.raises(RunFailed) as failed:
        await harness.run_with_input(_job(harness, batch=batch), rows)
    harness.wrap = None
    return failed.value.run_id


@pytest.mark.parametrize("written", [True, False], ids=["written", "not-written"])
async def test_an_interrupted_collection_is_looked_up_then_completed(
    sf: Harness, written: bool
) -> None:
    tag = "F" + uuid.uuid4().hex[:10]
    # Twice the same values in the collection: both are found, or both sent again.
    names = ["Ann", "Bob", "Ann", *(f"P{n:03d}" for n in range(27))]
    run_id = await _interrupted_then_resumed(
        sf, _rows(tag, names), batch=True, call=1, written=written
    )
    assert await _first_names(sf, tag) == (Counter(names) if written else Counter())
    await sf.resume(run_id)
    assert await _first_names(sf, tag) == Counter(names)  # none lost, none twice
    assert sf.store.rejects(run_id) == []
    export = next(s for s in sf.store.steps(run_id) if s.step == "export")
    assert export.counts == {"exported": 30, "rejected": 0}


async def test_a_record_exported_earlier_in_the_run_is_not_taken_for_its_twin(
    sf: Harness,
) -> None:
    tag = "F" + uuid.uuid4().hex[:10]
    # The second record (same values as the first, already exported) is lost after the write;
    # the look-up finds two records with its values, one of them the first record's.
    names = ["Twin", "Twin", "Other"]
    run_id = await _interrupted_then_resumed(
        sf, _rows(tag, names), batch=False, call=2, written=True
    )
    await sf.resume(run_id)
    assert await _first_names(sf, tag) == Counter(names)
    assert sf.store.rejects(run_id) == []  # the first record's id is known: one match is left


async def test_more_matches_than_records_sent_leaves_those_in_doubt(sf: Harness) -> None:
    tag = "F" + uuid.uuid4().hex[:10]
    names = ["Ann", "Ann", "Bob", "Cid"]
    run_id = await _interrupted_then_resumed(
        sf, _rows(tag, names), batch=True, call=1, written=True
    )
    # Meanwhile the same user creates one more record with Ann's values.
    (made,) = await sf.write(
        [WriteOp(kind="create", table="Contact", values={"LastName": tag, "FirstName": "Ann"})]
    )
    assert made.ok
    await sf.resume(run_id)
    assert await _first_names(sf, tag) == Counter({"Ann": 3, "Bob": 1, "Cid": 1})  # no resend
    rejects = sf.store.rejects(run_id)
    assert [(r["errorSymbol"], r["record"]["first_name"]) for r in rejects] == [
        ("IN_DOUBT", "Ann"),
        ("IN_DOUBT", "Ann"),
    ]
    assert "external id" in rejects[0]["errorMessage"]
    export = next(s for s in sf.store.steps(run_id) if s.step == "export")
    assert export.counts == {"exported": 2, "rejected": 2}


@pytest.mark.parametrize("keyed", [False, True], ids=["insert", "upsert"])
async def test_one_record_failed_inside_a_collection_is_its_only_reject(
    sf: Harness, keyed: bool
) -> None:
    tag = "F" + uuid.uuid4().hex[:10]
    names = [f"P{n:02d}" for n in range(12)]
    rows = _rows(tag, names)
    job = _job(sf, batch=True)
    if keyed:
        for n, row in enumerate(rows):
            row["external_id"] = f"{tag}-{n}"
        job = job.replace(
            "    mapping:\n",
            "    mapping:\n      - {campaign: external_id, crm: Customer_Number__c}\n",
        ).replace("    batch: true\n", "    key: Customer_Number__c\n    batch: true\n")
    sf.crm.emulator.faults.add(Fault(kind="batch_item", batch_index=4, status=400))
    run_id = await sf.run_with_input(job, rows)
    rejects = sf.store.rejects(run_id)
    assert [(r["errorSymbol"], r["record"]["first_name"]) for r in rejects] == [
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "P04")
    ]
    assert rejects[0]["errorMessage"]
    assert await _first_names(sf, tag) == Counter(n for n in names if n != "P04")
    export = next(s for s in sf.store.steps(run_id) if s.step == "export")
    assert export.counts == {"exported": 11, "rejected": 1}
    assert sf.store.run(run_id).status == "succeeded"  # type: ignore[union-attr]
