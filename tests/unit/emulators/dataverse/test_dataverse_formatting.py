"""Formatted values and lookup annotations."""

from __future__ import annotations

import httpx
import pytest

from crmsync.emulators.dataverse.formatting import (
    FORMATTED,
    format_value,
    parse_include_annotations,
)
from crmsync.emulators.dataverse.schema import SEED_TABLES, Schema

SCHEMA = Schema(SEED_TABLES)
CONTACT = SCHEMA.by_logical_name["contact"]
NOTE = SCHEMA.by_logical_name["crmsync_auditnote"]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("gendercode", 2, "Female"),
        ("preferredcontactmethodcode", 3, "Phone"),
        ("donotemail", 1, "Do Not Allow"),
        ("donotemail", 0, "Allow"),
        ("creditlimit", 1234.5, "$1,234.50"),
        ("creditlimit", -3.0, "-$3.00"),
        ("numberofchildren", 12345, "12,345"),
        ("birthdate", "2024-01-02", "1/2/2024"),
        ("createdon", "2024-01-02T15:04:00Z", "1/2/2024 3:04 PM"),
        ("createdon", "2024-12-31T00:05:00Z", "12/31/2024 12:05 AM"),
        ("statecode", 1, "Inactive"),
        ("gendercode", None, None),
    ],
)
def test_format_value(name: str, value: object, expected: str | None) -> None:
    assert format_value(CONTACT.by_name[name], value) == expected


def test_format_decimal_and_double() -> None:
    assert format_value(NOTE.by_name["crmsync_score"], 1234.567) == "1,234.57"
    assert format_value(NOTE.by_name["crmsync_weight"], 0.5) == "0.50"


@pytest.mark.parametrize(
    ("prefer", "mode"),
    [
        ('odata.include-annotations="*"', "all"),
        (f'odata.maxpagesize=5,odata.include-annotations="{FORMATTED}"', "formatted"),
        ('odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"', "lookup"),
        ("odata.maxpagesize=5", "none"),
    ],
)
def test_parse_include_annotations(prefer: str, mode: str) -> None:
    found, echo = parse_include_annotations(prefer)
    assert found == mode
    assert (echo is None) == (mode == "none")


async def test_annotated_read(client: httpx.AsyncClient) -> None:
    answer = await client.get(
        "contacts?$select=gendercode,donotemail,_parentcustomerid_value,birthdate,creditlimit"
        "&$filter=_parentcustomerid_value ne null",
        headers={"Prefer": 'odata.include-annotations="*"'},
    )
    assert answer.headers["Preference-Applied"] == 'odata.include-annotations="*"'
    rows = answer.json()["value"]
    assert rows
    accounts = {
        a["accountid"]: a["name"]
        for a in (await client.get("accounts?$select=name")).json()["value"]
    }
    for row in rows:
        assert row[f"gendercode@{FORMATTED}"] in ("Male", "Female")
        assert row[f"donotemail@{FORMATTED}"] in ("Allow", "Do Not Allow")
        lookup = "_parentcustomerid_value"
        assert row[f"{lookup}@{FORMATTED}"] == accounts[row[lookup]]
        assert row[f"{lookup}@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
        assert (
            row[f"{lookup}@Microsoft.Dynamics.CRM.associatednavigationproperty"]
            == "parentcustomerid_account"
        )


async def test_formatted_only_has_no_lookup_annotations(client: httpx.AsyncClient) -> None:
    answer = await client.get(
        "contacts?$select=_parentcustomerid_value&$filter=_parentcustomerid_value ne null&$top=2",
        headers={"Prefer": f'odata.include-annotations="{FORMATTED}"'},
    )
    for row in answer.json()["value"]:
        assert f"_parentcustomerid_value@{FORMATTED}" in row
        assert not any("lookuplogicalname" in key for key in row)


async def test_self_referencing_lookup_names_the_contact(client: httpx.AsyncClient) -> None:
    parent = (await client.get("contacts?$top=1&$select=fullname")).json()["value"][0]
    created = await client.post(
        "contacts",
        json={
            "lastname": "Child",
            "parentcustomerid_contact@odata.bind": f"/contacts({parent['contactid']})",
        },
        headers={"Prefer": 'return=representation,odata.include-annotations="*"'},
    )
    body = created.json()
    assert body[f"_parentcustomerid_value@{FORMATTED}"] == parent["fullname"]
    assert body["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "contact"


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("creditlimit", [0.0, 0.004, 1.995, 999.999, 1234.5, -1234.5, 1e9 + 0.25, None]),
        ("numberofchildren", [0, 7, 1234, 1234567]),
        (
            "lastusedincampaign",
            ["2024-01-02T00:00:00Z", "2024-07-09T12:59:00Z", "2024-12-31T23:05:00Z"],
        ),
        ("birthdate", ["2024-01-02", "1999-12-31"]),
        ("preferredcontactmethodcode", [1, 5]),
        ("donotfax", [0, 1]),
    ],
)
def test_sql_formatting_matches_python(name: str, values: list[object]) -> None:
    """The database computes formatted values; they must equal :func:`format_value`."""
    import sqlalchemy as sa

    from crmsync.emulators.dataverse.formatting import formatted_sql

    attribute = CONTACT.by_name[name]
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        for value in values:
            expression = formatted_sql(attribute, sa.literal(value))
            assert expression is not None
            assert conn.execute(sa.select(expression)).scalar_one() == format_value(
                attribute, value
            )
