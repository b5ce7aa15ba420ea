"""Collection reads: options, paging with skip tokens, $top, $count, record reads."""

from __future__ import annotations

import httpx
import pytest
from dv_emulator_support import BASE

from crmsync.emulators.dataverse.errors import WebApiError
from crmsync.emulators.dataverse.query import SkipTokenCodec, parse_options
from crmsync.emulators.dataverse.store import DataverseStore


async def _all_pages(client: httpx.AsyncClient, url: str, page_size: int) -> list[dict]:
    prefer = {"Prefer": f"odata.maxpagesize={page_size}"}
    rows: list[dict] = []
    next_url: str | None = url
    while next_url:
        answer = await client.get(next_url, headers=prefer)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Preference-Applied"] == f"odata.maxpagesize={page_size}"
        body = answer.json()
        assert len(body["value"]) <= page_size
        rows.extend(body["value"])
        next_url = body.get("@odata.nextLink")
    return rows


async def test_paging_visits_every_row_once_in_order(client: httpx.AsyncClient) -> None:
    rows = await _all_pages(
        client, "contacts?$select=lastname,creditlimit&$orderby=creditlimit desc,lastname", 7
    )
    assert len(rows) == 60
    assert len({r["contactid"] for r in rows}) == 60
    keys = [
        (r["creditlimit"] is None, -(r["creditlimit"] or 0), r["lastname"].lower()) for r in rows
    ]
    assert keys == sorted(keys)  # desc puts nulls last, as SQL Server does


async def test_select_context_etag_and_primary_key(client: httpx.AsyncClient) -> None:
    body = (await client.get("contacts?$select=firstname,_parentcustomerid_value&$top=3")).json()
    assert body["@odata.context"] == f"{BASE}/$metadata#contacts(firstname,_parentcustomerid_value)"
    assert "@odata.nextLink" not in body
    assert len(body["value"]) == 3
    for row in body["value"]:
        assert set(row) == {"@odata.etag", "firstname", "_parentcustomerid_value", "contactid"}
        assert row["@odata.etag"].startswith('W/"')


async def test_full_rows_have_wire_types(client: httpx.AsyncClient) -> None:
    row = (await client.get("contacts?$top=1")).json()["value"][0]
    assert isinstance(row["donotemail"], bool)
    assert isinstance(row["gendercode"], int)
    assert isinstance(row["versionnumber"], int)
    assert row["@odata.etag"] == f'W/"{row["versionnumber"]}"'
    assert len(row["birthdate"]) == 10
    assert row["createdon"].endswith("Z")


async def test_count_option_and_count_segment(client: httpx.AsyncClient) -> None:
    body = (
        await client.get(
            "contacts?$count=true&$filter=gendercode eq 1",
            headers={"Prefer": "odata.maxpagesize=5"},
        )
    ).json()
    total = body["@odata.count"]
    assert 0 < total < 60
    answer = await client.get("contacts/$count")
    assert answer.text == "60"
    assert answer.headers["content-type"].startswith("text/plain")


async def test_tampered_or_foreign_skip_tokens_are_400s(client: httpx.AsyncClient) -> None:
    body = (
        await client.get("contacts?$select=lastname", headers={"Prefer": "odata.maxpagesize=5"})
    ).json()
    link = body["@odata.nextLink"]
    token = link.split("$skiptoken=")[1]
    for bad in (token[:-2] + "xx", "A" + token, "garbage", ""):
        answer = await client.get(f"contacts?$select=lastname&$skiptoken={bad}")
        assert answer.status_code == 400, bad
        assert answer.json()["error"]["code"] == "0x80060888"
    # A token of one query does not page another (different order).
    answer = await client.get(f"contacts?$orderby=lastname&$skiptoken={token}")
    assert answer.status_code == 400


async def test_read_one_by_id_and_alternate_key(client: httpx.AsyncClient) -> None:
    account = (await client.get("accounts?$top=1&$select=accountnumber")).json()["value"][0]
    by_id = await client.get(f"accounts({account['accountid']})?$select=name")
    assert by_id.status_code == 200
    assert by_id.json()["@odata.context"] == f"{BASE}/$metadata#accounts(name)/$entity"
    assert by_id.headers["ETag"] == by_id.json()["@odata.etag"]
    by_key = await client.get(f"accounts(accountnumber='{account['accountnumber']}')")
    assert by_key.json()["accountid"] == account["accountid"]
    missing = await client.get("accounts(00000000-0000-0000-0000-000000000000)")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "0x80040217"
    wrong_key = await client.get("accounts(name='x')")
    assert wrong_key.status_code == 400


async def test_property_read(client: httpx.AsyncClient) -> None:
    account = (await client.get("accounts?$top=1&$select=name")).json()["value"][0]
    answer = await client.get(f"accounts({account['accountid']})/name")
    assert answer.json()["value"] == account["name"]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("$select=nosuch", 400),
        ("$orderby=lastname sideways", 400),
        ("$orderby=nosuch", 400),
        ("$top=-1", 400),
        ("$top=abc", 400),
        ("$skip=10", 400),
        ("$count=maybe", 400),
        ("$expand=parentcustomerid_account", 501),
    ],
)
async def test_bad_options(client: httpx.AsyncClient, query: str, status: int) -> None:
    answer = await client.get(f"contacts?{query}")
    assert answer.status_code == status
    assert answer.json()["error"]["message"]
    assert answer.headers["OData-Version"] == "4.0"


def test_select_message_is_the_real_one(store: DataverseStore) -> None:
    table = store.schema.by_logical_name["contact"]
    with pytest.raises(WebApiError) as caught:
        parse_options(table, {"$select": "x"})
    assert caught.value.message == (
        "Could not find a property named 'x' on type 'Microsoft.Dynamics.CRM.contact'."
    )


def test_skip_token_codec_round_trip_and_scope() -> None:
    codec = SkipTokenCodec(b"k" * 32)
    token = codec.encode("a", ["x", 1, None])
    assert codec.decode("a", token) == ["x", 1, None]
    with pytest.raises(WebApiError):
        codec.decode("b", token)
    with pytest.raises(WebApiError):
        SkipTokenCodec(b"j" * 32).decode("a", token)


async def test_top_without_page_size_and_with_it(client: httpx.AsyncClient) -> None:
    body = (await client.get("contacts?$top=4")).json()
    assert len(body["value"]) == 4
    assert "@odata.nextLink" not in body
    # With odata.maxpagesize, $top is ignored and paging goes on.
    body = (await client.get("contacts?$top=4", headers={"Prefer": "odata.maxpagesize=10"})).json()
    assert len(body["value"]) == 10
    assert "@odata.nextLink" in body
