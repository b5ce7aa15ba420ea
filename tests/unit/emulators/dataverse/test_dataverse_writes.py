"""Creates, updates, upserts, deletes and body validation."""

from __future__ import annotations

import httpx
import pytest
from dv_emulator_support import BASE

from crmsync.emulators.dataverse.store import DataverseStore

MISSING = "00000000-0000-0000-0000-0000000000aa"


def _id_of(answer: httpx.Response) -> str:
    return answer.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


async def test_create_returns_entity_id_and_sets_system_columns(
    client: httpx.AsyncClient, store: DataverseStore
) -> None:
    before = store.current_version
    answer = await client.post("contacts", json={"firstname": "Ada", "lastname": "Lovelace"})
    assert answer.status_code == 204
    record_id = _id_of(answer)
    assert answer.headers["OData-EntityId"] == f"{BASE}/contacts({record_id})"
    row = (await client.get(f"contacts({record_id})")).json()
    assert row["fullname"] == "Ada Lovelace"
    assert row["versionnumber"] == before + 1
    assert row["createdon"] == row["modifiedon"]
    assert row["statecode"] == 0


async def test_create_with_representation_and_client_id(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "contacts?$select=lastname,gendercode",
        json={"contactid": MISSING, "lastname": "Hopper", "gendercode": 2, "versionnumber": 5},
        headers={"Prefer": "return=representation"},
    )
    assert answer.status_code == 201
    body = answer.json()
    assert body["@odata.context"] == f"{BASE}/$metadata#contacts(lastname,gendercode)/$entity"
    assert body["contactid"] == MISSING
    assert body["gendercode"] == 2
    again = await client.post("contacts", json={"contactid": MISSING, "lastname": "Twice"})
    assert again.status_code == 412


async def test_update_and_concurrency(client: httpx.AsyncClient) -> None:
    record_id = _id_of(await client.post("contacts", json={"lastname": "One"}))
    row = (await client.get(f"contacts({record_id})?$select=lastname")).json()
    etag = row["@odata.etag"]
    assert (
        await client.patch(
            f"contacts({record_id})", json={"lastname": "Two"}, headers={"If-Match": etag}
        )
    ).status_code == 204
    stale = await client.patch(
        f"contacts({record_id})", json={"lastname": "Three"}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412
    assert stale.json()["error"] == {
        "code": "0x80060882",
        "message": (
            "The version of the existing record doesn't match the RowVersion property provided."
        ),
    }
    updated = (await client.get(f"contacts({record_id})?$select=lastname,fullname")).json()
    assert updated["lastname"] == "Two"
    assert updated["fullname"] == "Two"
    assert updated["@odata.etag"] != etag


async def test_patch_missing_with_if_match_is_404(client: httpx.AsyncClient) -> None:
    answer = await client.patch(
        f"contacts({MISSING})", json={"lastname": "x"}, headers={"If-Match": "*"}
    )
    assert answer.status_code == 404
    assert answer.json()["error"] == {
        "code": "0x80040217",
        "message": f"contact With Id = {MISSING} Does Not Exist",
    }


async def test_upsert_creates_then_updates(client: httpx.AsyncClient) -> None:
    created = await client.patch(
        f"contacts({MISSING})", json={"lastname": "Up"}, headers={"Prefer": "return=representation"}
    )
    assert created.status_code == 201
    updated = await client.patch(
        f"contacts({MISSING})",
        json={"lastname": "Date"},
        headers={"Prefer": "return=representation"},
    )
    assert updated.status_code == 200
    assert updated.json()["lastname"] == "Date"
    create_only = await client.patch(
        f"contacts({MISSING})", json={"lastname": "No"}, headers={"If-None-Match": "*"}
    )
    assert create_only.status_code == 412
    assert (
        create_only.json()["error"]["message"]
        == "A record with matching key values already exists."
    )


async def test_alternate_keys(client: httpx.AsyncClient) -> None:
    assert (
        await client.patch("accounts(accountnumber='K-1')", json={"name": "Keyed"})
    ).status_code == 204
    row = (await client.get("accounts(accountnumber='K-1')?$select=name,accountnumber")).json()
    assert row == {**row, "name": "Keyed", "accountnumber": "K-1"}
    assert (
        await client.patch("accounts(accountnumber='K-1')", json={"name": "Re"})
    ).status_code == 204
    duplicate = await client.post("accounts", json={"name": "Dup", "accountnumber": "K-1"})
    assert duplicate.status_code == 412
    assert (await client.delete("accounts(accountnumber='K-1')")).status_code == 204
    assert (await client.get("accounts(accountnumber='K-1')")).status_code == 404


async def test_binds(client: httpx.AsyncClient) -> None:
    account = (await client.get("accounts?$top=1")).json()["value"][0]["accountid"]
    record_id = _id_of(
        await client.post(
            "contacts",
            json={"lastname": "B", "parentcustomerid_account@odata.bind": f"/accounts({account})"},
        )
    )
    row = (await client.get(f"contacts({record_id})?$select=_parentcustomerid_value")).json()
    assert row["_parentcustomerid_value"] == account
    missing = await client.post(
        "contacts", json={"parentcustomerid_account@odata.bind": f"/accounts({MISSING})"}
    )
    assert missing.status_code == 404
    wrong_set = await client.post(
        "contacts", json={"parentcustomerid_account@odata.bind": f"/contacts({record_id})"}
    )
    assert wrong_set.status_code == 400
    subscription = await client.post(
        "crmsync_subscriptions",
        json={"crmsync_name": "S", "crmsync_contactid@odata.bind": f"{BASE}/contacts({record_id})"},
    )
    assert subscription.status_code == 204


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (
            {"bogus": 1},
            "0x80048d19",
            "The property 'bogus' does not exist on type 'Microsoft.Dynamics.CRM.contact'",
        ),
        ({"gendercode": 7}, "0x8004431a", "outside the valid range. Accepted Values: 1,2"),
        ({"gendercode": "1"}, "0x80048d19", "Edm.Int32"),
        ({"donotemail": "yes"}, "0x80048d19", "Edm.Boolean"),
        ({"creditlimit": True}, "0x80048d19", "Edm.Decimal"),
        ({"firstname": "x" * 51}, "0x80044331", "maximum allowed length of '50'"),
        ({"firstname": 5}, "0x80048d19", "Edm.String"),
        ({"birthdate": "yesterday"}, "0x80048d19", "Edm.Date"),
        ({"_parentcustomerid_value": MISSING}, "0x80048d19", "Navigation properties"),
        ({"nosuchnav@odata.bind": "/accounts(x)"}, "0x80048d19", "undeclared property 'nosuchnav'"),
        ({"numberofchildren": -1}, "0x80040203", "outside the valid range"),
    ],
)
async def test_validation(client: httpx.AsyncClient, body: dict, code: str, fragment: str) -> None:
    answer = await client.post("contacts", json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == code
    assert fragment in error["message"]


@pytest.mark.parametrize("content", [b"{not json", b"[1,2]", b"\xff\xfe", b"null"])
async def test_malformed_bodies(client: httpx.AsyncClient, content: bytes) -> None:
    answer = await client.post(
        "contacts", content=content, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "0x80048d19"


async def test_read_only_attributes_are_ignored(client: httpx.AsyncClient) -> None:
    record_id = _id_of(
        await client.post(
            "contacts",
            json={"lastname": "R", "createdon": "2001-01-01T00:00:00Z", "fullname": "Nope"},
        )
    )
    row = (await client.get(f"contacts({record_id})?$select=createdon,fullname")).json()
    assert not row["createdon"].startswith("2001")
    assert row["fullname"] == "R"


async def test_dates_are_normalised(client: httpx.AsyncClient) -> None:
    record_id = _id_of(
        await client.post(
            "contacts",
            json={
                "lastname": "D",
                "birthdate": "1990-05-06",
                "lastusedincampaign": "2024-01-01T10:00:00+02:00",
            },
        )
    )
    row = (await client.get(f"contacts({record_id})?$select=birthdate,lastusedincampaign")).json()
    assert row["birthdate"] == "1990-05-06"
    assert row["lastusedincampaign"] == "2024-01-01T08:00:00Z"


async def test_delete(client: httpx.AsyncClient) -> None:
    record_id = _id_of(await client.post("contacts", json={"lastname": "Gone"}))
    assert (await client.delete(f"contacts({record_id})")).status_code == 204
    again = await client.delete(f"contacts({record_id})")
    assert again.status_code == 404


async def test_contacts_upsert_by_their_external_id_key(client: httpx.AsyncClient) -> None:
    url = "contacts(crmsync_externalid='CRM-42')"
    assert (await client.patch(url, json={"lastname": "Keyed"})).status_code == 204
    row = (await client.get(f"{url}?$select=lastname,crmsync_externalid")).json()
    assert row == {**row, "lastname": "Keyed", "crmsync_externalid": "CRM-42"}
    assert (await client.patch(url, json={"firstname": "Ada"})).status_code == 204
    same = await client.get("contacts?$filter=crmsync_externalid eq 'CRM-42'&$select=fullname")
    assert [r["fullname"] for r in same.json()["value"]] == ["Ada Keyed"]
    duplicate = await client.post(
        "contacts", json={"lastname": "Dup", "crmsync_externalid": "CRM-42"}
    )
    assert duplicate.status_code == 412
