"""The SOQL that import steps generate, parsed by a real SOQL parser (npm ``soql-parser-js``).

The parser is installed by ``make js-deps`` (``npm ci`` in ``tests/integration/jobs/js``). Without
node/npm the test is skipped with the reason, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crmsync.connectors.base import CrmType, FieldInfo, TableInfo
from crmsync.jobs.filters import parse_filter
from crmsync.jobs.soql_filter import soql_filter, soql_in, soql_window

JS = Path(__file__).parent / "js"
NOW = datetime(2024, 3, 31, 12, 0, tzinfo=UTC)
SOQL_TREES: list[Any] = [
    [{"field": "name", "op": "eq", "value": "O'Brien"}],
    [{"field": "name", "op": "contains", "value": "50%_off'"}],
    [{"field": "name", "op": "starts_with", "value": "a\\b"}],
    [{"field": "name", "op": "ends_with", "value": 'quote " and \n newline'}],
    [
        {"field": "age", "op": "ge", "value": 18},
        {"join": "and", "field": "score", "op": "lt", "value": 2.5},
    ],
    [{"field": "active", "op": "ne", "value": False}],
    [{"field": "seen", "op": "ge", "value": {"days_ago": 7}}],
    [{"field": "born", "op": "eq", "value": "1990-05-01"}],
    [{"field": "name", "op": "is_empty"}, {"join": "or", "field": "age", "op": "is_not_empty"}],
    [
        {"field": "name", "op": "eq", "value": "x"},
        {
            "join": "and",
            "group": [
                {"field": "age", "op": "gt", "value": 1},
                {"join": "or", "field": "age", "op": "lt", "value": -1},
            ],
        },
    ],
]


def info() -> TableInfo:
    fields = {
        "name": FieldInfo("name", CrmType.STRING),
        "age": FieldInfo("age", CrmType.INTEGER),
        "score": FieldInfo("score", CrmType.DOUBLE),
        "active": FieldInfo("active", CrmType.BOOLEAN),
        "seen": FieldInfo("seen", CrmType.DATETIME),
        "born": FieldInfo("born", CrmType.DATE),
        "Id": FieldInfo("Id", CrmType.UNIQUEIDENTIFIER),
    }
    return TableInfo("Contact", "Contact", "Id", "name", True, fields)


def _parser() -> list[str]:
    node = shutil.which("node")
    installed = (JS / "node_modules" / "soql-parser-js").is_dir()
    if node is None or not installed:
        reason = "node is not installed" if node is None else "run 'make js-deps' (npm ci)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the SOQL parser test needs node and soql-parser-js: {reason}")
        pytest.skip(f"the SOQL parser test needs node and soql-parser-js: {reason}")
    return [node, str(JS / "parse_soql.js")]


def _parse(queries: list[str]) -> list[dict[str, Any]]:
    answer = subprocess.run(
        _parser(),
        input=json.dumps(queries),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return list(json.loads(answer.stdout))


def _select(where: str) -> str:
    # SOQL text for the parser, not SQL sent to a database.
    return "SELECT Id FROM Contact WHERE " + where  # noqa: S608


def _flatten(where: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    while where:
        out.append(where["left"])
        where = where.get("right") or {}
    return out


def test_every_generated_condition_parses() -> None:
    table = info()
    queries = [_select(soql_filter(table, parse_filter(tree), {}, now=NOW)) for tree in SOQL_TREES]
    queries.append(_select(soql_window("SystemModstamp", datetime(2024, 1, 1, tzinfo=UTC), NOW)))
    queries.append(_select(soql_in("Id", ["003000000000001AAA", "a'b"])))
    for soql, parsed in zip(queries, _parse(queries), strict=True):
        assert parsed["ok"], (soql, parsed.get("error"))


def test_literals_survive_the_parser() -> None:
    table = info()
    tree = [
        {"field": "name", "op": "eq", "value": 'O\'Brien \\ "x"'},
        {"join": "and", "field": "seen", "op": "ge", "value": "2024-03-31T02:30:00+02:00"},
        {"join": "and", "field": "age", "op": "gt", "value": 3},
    ]
    soql = _select(soql_filter(table, parse_filter(tree), {}, now=NOW))
    (parsed,) = _parse([soql])
    conditions = _flatten(parsed["query"]["where"])
    assert conditions[0]["literalType"] == "STRING"
    assert conditions[0]["value"] == "'O\\'Brien \\\\ \\\"x\\\"'"
    assert conditions[1]["literalType"] == "DATETIME"
    assert conditions[1]["value"] == "2024-03-31T00:30:00.000Z"
    assert conditions[2]["literalType"] == "INTEGER"
