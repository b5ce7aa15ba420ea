"""``$filter`` translation: operators, literals, case-insensitivity, hostile input."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.emulators.dataverse.errors import WebApiError
from crmsync.emulators.dataverse.filters import compile_filter
from crmsync.emulators.dataverse.store import DataverseStore


def _ids(store: DataverseStore, text: str) -> set[str]:
    table = store.schema.by_logical_name["contact"]
    sa_table = store.sa_table(table)
    condition = compile_filter(table, sa_table.c, text)
    with store.reading() as conn:
        return {row[0] for row in conn.execute(sa.select(sa_table.c.contactid).where(condition))}


def _rows(store: DataverseStore) -> list[Any]:
    sa_table = store.sa_table(store.schema.by_logical_name["contact"])
    with store.reading() as conn:
        return list(conn.execute(sa.select(sa_table)).mappings())


def test_comparisons_match_python_semantics(store: DataverseStore) -> None:
    rows = _rows(store)
    assert _ids(store, "gendercode eq 1") == {r["contactid"] for r in rows if r["gendercode"] == 1}
    assert _ids(store, "numberofchildren ge 2 and numberofchildren lt 4") == {
        r["contactid"] for r in rows if 2 <= r["numberofchildren"] < 4
    }
    assert _ids(store, "not (donotemail eq true) or creditlimit gt 1000.5") == {
        r["contactid"]
        for r in rows
        if not r["donotemail"] or (r["creditlimit"] is not None and r["creditlimit"] > 1000.5)
    }


def test_null_and_ne_follow_odata(store: DataverseStore) -> None:
    rows = _rows(store)
    assert _ids(store, "creditlimit eq null") == {
        r["contactid"] for r in rows if r["creditlimit"] is None
    }
    # ne keeps rows whose value is null, unlike SQL's <>.
    assert _ids(store, "emailaddress2 ne 'x@example.com'") == {r["contactid"] for r in rows}


def test_strings_compare_without_case_and_like_is_escaped(store: DataverseStore) -> None:
    rows = _rows(store)
    name = rows[0]["lastname"]
    expected = {r["contactid"] for r in rows if r["lastname"].lower() == name.lower()}
    assert _ids(store, f"lastname eq '{name.upper().replace(chr(39), chr(39) * 2)}'") == expected
    assert _ids(store, "contains(lastname,'%')") == set()
    assert _ids(store, "startswith(firstname,'_')") == set()
    first = rows[0]["firstname"]
    assert rows[0]["contactid"] in _ids(store, f"startswith(firstname,'{first[:2].lower()}')")


def test_dates_guids_and_lookups(store: DataverseStore) -> None:
    rows = _rows(store)
    assert _ids(store, "birthdate lt 1970-01-01") == {
        r["contactid"] for r in rows if r["birthdate"] < "1970-01-01"
    }
    assert _ids(store, "createdon ge 2000-01-01T00:00:00+02:00") == {r["contactid"] for r in rows}
    target = rows[0]["contactid"]
    assert _ids(store, f"contactid eq {target}") == {target}
    linked = next(r for r in rows if r["parentcustomerid"])
    assert linked["contactid"] in _ids(
        store, f"_parentcustomerid_value eq {linked['parentcustomerid']}"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nosuch eq 1", "Could not find a property named 'nosuch' on type"),
        ("lastname eq", "Syntax error at position"),
        ("lastname eq 'x", "Syntax error at position"),
        ("gendercode eq 'x'", "incompatible types"),
        ("lastname eq 5", "incompatible types"),
        ("substringof('a',lastname)", "unknown function"),
        ("contains(gendercode,'1')", "No function signature"),
        ("(" * 8000 + "gendercode eq 1" + ")" * 8000, None),
        ("lastname eq '\x00'; DROP TABLE contact; --'", None),
        ("x" * 40_000, "too long"),
    ],
)
def test_bad_filters_are_400s(store: DataverseStore, text: str, message: str | None) -> None:
    """Each is refused with a 400 naming the problem (``None``: may also be valid)."""
    caught: WebApiError | None = None
    try:
        _ids(store, text)
    except WebApiError as error:
        caught = error
    if message is not None:
        assert caught is not None
    if caught is not None:
        assert (caught.status, caught.code) == (400, "0x80060888")
        assert message is None or message in caught.message
    with store.reading() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM contact")).scalar_one() == 60
