"""Filter trees translated and run against both emulators: the CRM returns exactly the records a
plain Python evaluation of the same tree selects (quotes, LIKE wildcards, nulls, groups)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from jobs_support import CONTACT, EMAIL, FIRST, LAST, Harness, crm_job

from crmsync.connectors.base import WriteOp

PEOPLE = [
    ("O'Brien", "a@x.example"),
    ("50%_off", None),
    ("50 off", "b@x.example"),
    ('Quote "q" \\ back', "c@x.example"),
    ("Zoé", None),
    ("plain", "d@x.example"),
]

Case = tuple[list[dict[str, Any]], Callable[[str, str | None], bool]]


def _cases(d: str) -> list[Case]:
    first, email = FIRST[d], EMAIL[d]
    return [
        ([{"field": first, "op": "eq", "value": "O'Brien"}], lambda f, e: f == "O'Brien"),
        ([{"field": first, "op": "contains", "value": "%_"}], lambda f, e: "%_" in f),
        ([{"field": first, "op": "starts_with", "value": "50"}], lambda f, e: f.startswith("50")),
        (
            [{"field": first, "op": "ends_with", "value": "\\ back"}],
            lambda f, e: f.endswith("back"),
        ),
        ([{"field": email, "op": "is_empty"}], lambda f, e: e is None),
        (
            [
                {"field": email, "op": "is_not_empty"},
                {
                    "join": "and",
                    "group": [
                        {"field": first, "op": "eq", "value": 'Quote "q" \\ back'},
                        {"join": "or", "field": first, "op": "eq", "value": "plain"},
                    ],
                },
            ],
            lambda f, e: e is not None and f in ('Quote "q" \\ back', "plain"),
        ),
        (
            [
                {"field": first, "op": "eq", "value": "Zoé"},
                {"join": "or", "field": email, "op": "eq", "value": "a@x.example"},
            ],
            lambda f, e: f == "Zoé" or e == "a@x.example",
        ),
        ([{"field": first, "op": "ne", "value": "plain"}], lambda f, e: f != "plain"),
    ]


@pytest.mark.parametrize("case", range(8))
async def test_filter_matrix_against_the_emulator(harness: Harness, case: int) -> None:
    d = harness.crm.dialect
    tag = "F" + uuid.uuid4().hex[:10]
    results = await harness.write(
        [WriteOp("create", CONTACT[d], {LAST[d]: tag, FIRST[d]: f, EMAIL[d]: e}) for f, e in PEOPLE]
    )
    assert all(r.ok for r in results), results
    tree, expected = _cases(d)[case]
    job = crm_job(
        harness,
        f"""\
    fields: [{{name: {FIRST[d]}}}]
    filter:
      - {{field: {LAST[d]}, op: eq, value: {tag}}}
      - join: and
        group: {_yaml(tree)}
    next: out
  out:
    kind: wait
    seconds: 0""",
        name="filters",
    )
    run_id = await harness.run(job)
    rows = next(s for s in harness.store.steps(run_id) if s.step == "out").rows
    got = sorted(str(row[FIRST[d]]) for row in rows)
    assert got == sorted(f for f, e in PEOPLE if expected(f, e))


def _yaml(tree: list[dict[str, Any]]) -> str:
    return json.dumps(tree)  # JSON is YAML: quotes and backslashes survive as written
