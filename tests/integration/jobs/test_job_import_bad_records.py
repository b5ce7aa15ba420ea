"""A CRM record no store can hold (no id, a NUL character, a lone UTF-16 surrogate) is a reject
of the ``crm`` import step, and the other records of its page are imported; against both
emulators over HTTPS. The emulators' ``rewrite`` fault makes the bad rows (no emulator store
holds them)."""

from __future__ import annotations

import uuid

import pytest
from jobs_support import CONTACT, FIRST, ID, LAST, Harness, crm_job

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.faults import Fault

KEY = {"dataverse": "contactid", "salesforce": "Id"}
PAGES = {"dataverse": "/api/data/v9.2/contacts", "salesforce": "/query"}

BAD_ROWS = {
    # kind: (find, replace, code, what the message says)
    "missing_id": ('"{key}"\\s*:\\s*"{id}"', '"{key}_gone":"{id}"', "MISSING_ID", "no id"),
    "nul": ("Bad-B", "Bad\\u0000B", "INVALID_VALUE", "NUL character"),
    "lone_surrogate": ("Bad-B", "Bad\\ud800B", "INVALID_VALUE", "surrogate"),
}


def _job(harness: Harness, tag: str) -> str:
    d = harness.crm.dialect
    return crm_job(
        harness,
        f"""\
    fields: [{{name: {FIRST[d]}}}]
    filter: [{{field: {LAST[d]}, op: eq, value: "{tag}"}}]
    next: out
  out:
    kind: deduplicate
    keys: [{ID[d]}]""",
        name="bad",
    )


@pytest.mark.parametrize("kind", list(BAD_ROWS))
async def test_a_bad_record_is_rejected_and_the_others_imported(
    harness: Harness, kind: str
) -> None:
    d = harness.crm.dialect
    tag = "B" + uuid.uuid4().hex[:10]
    results = await harness.write(
        [
            WriteOp("create", CONTACT[d], {LAST[d]: tag, FIRST[d]: "Good-A"}),
            WriteOp("create", CONTACT[d], {LAST[d]: tag, FIRST[d]: "Bad-B"}),
        ]
    )
    good, bad = (str(result.id) for result in results)
    find, replace, code, said = BAD_ROWS[kind]
    harness.crm.emulator.faults.add(
        Fault(
            "rewrite",
            path=PAGES[d],
            method="GET",
            times=1000,
            find=find.format(key=KEY[d], id=bad),
            replace=replace.format(key=KEY[d], id=bad),
        )
    )
    try:
        run_id = await harness.run(_job(harness, tag))
    finally:
        harness.crm.emulator.faults.clear()

    steps = {s.step: s for s in harness.store.steps(run_id)}
    assert steps["read"].status == "done"
    assert [(row[ID[d]], row[FIRST[d]]) for row in steps["out"].rows] == [(good, "Good-A")]
    (reject,) = harness.store.rejects(run_id)
    assert reject["errorSymbol"] == code
    assert said in reject["errorMessage"]
