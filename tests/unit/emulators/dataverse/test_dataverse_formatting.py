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


async def test_empty_values_have_no_annotations(client: httpx.AsyncClient) -> None:
    """Dataverse sends no annotation for an empty value, not an annotation worth null."""
    created = await client.post(
        "contacts",
        json={"lastname": "Empty"},
        headers={"Prefer": 'return=representation,odata.include-annotations="*"'},
    )
    contact_id = created.json()["contactid"]
    for prefer in ("*", FORMATTED):
        headers = {"Prefer": f'odata.include-annotations="{prefer}"'}
        where = f"$filter=contactid eq {contact_id}"
        for url in (
            f"contacts?{where}",
            f"contacts?$select=creditlimit,_parentcustomerid_value&{where}",
        ):
            row = (await client.get(url, headers=headers)).json()["value"][0]
            assert row.get("creditlimit", "absent") is None
            assert row["_parentcustomerid_value"] is None
            annotated = [key for key in row if "@" in key and not key.startswith("@")]
            assert not any(row[key] is None for key in annotated), annotated
            assert not any(
                key.startswith(("creditlimit@", "_parentcustomerid")) for key in annotated
            )


async def _formatted_rows(client: httpx.AsyncClient, query: str) -> list[dict[str, object]]:
    headers = {"Prefer": f'odata.include-annotations="{FORMATTED}"'}
    answer = await client.get(f"contacts?{query}", headers=headers)
    rows: list[dict[str, object]] = answer.json()["value"]
    return rows


async def test_stored_formatted_values_equal_computed_ones(client: httpx.AsyncClient) -> None:
    """Full reads take formatted values from the stored column, subsets compute them: the same."""
    full = await _formatted_rows(client, "$orderby=contactid")
    readable = [key for key in full[0] if "@" not in key and key != "contactid"]
    # The same attributes less one: a shape that computes its annotations in the query.
    subset = await _formatted_rows(client, f"$select={','.join(readable[1:])}&$orderby=contactid")
    assert len(full) == len(subset) > 50
    dropped = readable[0]
    for whole, part in zip(full, subset, strict=True):
        assert {k: v for k, v in whole.items() if not k.startswith(dropped)} == {
            k: v for k, v in part.items() if not k.startswith(dropped)
        }


async def test_formatted_lookup_names_follow_the_looked_up_record(
    client: httpx.AsyncClient,
) -> None:
    account = await client.post("accounts", json={"name": "Before Ltd"})
    account_url = account.headers["OData-EntityId"]
    account_id = account_url.rsplit("(", 1)[1][:-1]
    contact = await client.post(
        "contacts",
        json={
            "lastname": "Looker",
            "parentcustomerid_account@odata.bind": f"/accounts({account_id})",
        },
    )
    contact_id = contact.headers["OData-EntityId"].rsplit("(", 1)[1][:-1]
    key = f"_parentcustomerid_value@{FORMATTED}"
    query = f"$filter=contactid eq {contact_id}"

    assert (await _formatted_rows(client, query))[0][key] == "Before Ltd"
    await client.patch(f"accounts({account_id})", json={"name": "After Ltd"})
    assert (await _formatted_rows(client, query))[0][key] == "After Ltd"
    await client.delete(f"accounts({account_id})")
    row = (await _formatted_rows(client, query))[0]
    assert row["_parentcustomerid_value"] == account_id
    assert key not in row


async def test_formatted_lookup_names_follow_a_computed_primary_name(
    client: httpx.AsyncClient,
) -> None:
    """A contact's name is its computed ``fullname``: changing a part of it renames it in the
    records that look it up; other changes leave their formatted values as they are."""
    contact = await client.post("contacts", json={"firstname": "Ada", "lastname": "Byron"})
    contact_id = contact.headers["OData-EntityId"].rsplit("(", 1)[1][:-1]
    child = await client.post(
        "contacts",
        json={
            "lastname": "Child",
            "parentcustomerid_contact@odata.bind": f"/contacts({contact_id})",
        },
    )
    child_id = child.headers["OData-EntityId"].rsplit("(", 1)[1][:-1]
    key = f"_parentcustomerid_value@{FORMATTED}"
    query = f"$filter=contactid eq {child_id}"

    assert (await _formatted_rows(client, query))[0][key] == "Ada Byron"
    await client.patch(f"contacts({contact_id})", json={"lastname": "Lovelace"})
    assert (await _formatted_rows(client, query))[0][key] == "Ada Lovelace"
    await client.patch(f"contacts({contact_id})", json={"jobtitle": "Countess"})
    assert (await _formatted_rows(client, query))[0][key] == "Ada Lovelace"


async def test_a_record_created_again_with_its_id_is_named_again(
    client: httpx.AsyncClient,
) -> None:
    """Lookups keep the id of a deleted record; a new record with that id gives it a name."""
    account_id = "00000000-0000-0000-0000-0000000000cc"
    await client.post("accounts", json={"accountid": account_id, "name": "First Ltd"})
    contact = await client.post(
        "contacts",
        json={
            "lastname": "Kept",
            "parentcustomerid_account@odata.bind": f"/accounts({account_id})",
        },
    )
    contact_id = contact.headers["OData-EntityId"].rsplit("(", 1)[1][:-1]
    key = f"_parentcustomerid_value@{FORMATTED}"
    query = f"$filter=contactid eq {contact_id}"

    await client.delete(f"accounts({account_id})")
    assert key not in (await _formatted_rows(client, query))[0]
    await client.patch(f"accounts({account_id})", json={"name": "Second Ltd"})
    assert (await _formatted_rows(client, query))[0][key] == "Second Ltd"
