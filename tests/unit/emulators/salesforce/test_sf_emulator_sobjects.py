"""Single-record resources and the validation Salesforce applies to written values."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from crmsync.emulators.common.clock import Clock


async def create(api: httpx.AsyncClient, obj: str = "Contact", **fields: Any) -> str:
    answer = await api.post(f"sobjects/{obj}/", json=fields)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["success"] is True
    assert body["errors"] == []
    record_id: str = body["id"]
    return record_id


async def test_create_read_update_delete(api: httpx.AsyncClient, clock: Clock) -> None:
    record_id = await create(api, FirstName="Ada", LastName="Lovelace", Birthdate="1815-12-10")
    record = (await api.get(f"sobjects/Contact/{record_id}")).json()
    assert record["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v62.0/sobjects/Contact/{record_id}",
    }
    assert record["Name"] == "Ada Lovelace"
    assert record["HasOptedOutOfEmail"] is False
    assert record["Preferred_Language__c"] == "en"
    assert record["IsDeleted"] is False
    assert record["CreatedDate"].endswith(".000+0000")
    assert record["CreatedDate"] == record["LastModifiedDate"] == record["SystemModstamp"]
    clock.advance(65)
    answer = await api.patch(f"sobjects/Contact/{record_id}", json={"LastName": "King"})
    assert answer.status_code == 204
    updated = (
        await api.get(f"sobjects/Contact/{record_id}", params={"fields": "Name,lastmodifieddate"})
    ).json()
    assert set(updated) == {"attributes", "Name", "LastModifiedDate"}
    assert updated["Name"] == "Ada King"
    assert updated["LastModifiedDate"] > record["LastModifiedDate"]
    assert (await api.delete(f"sobjects/Contact/{record_id}")).status_code == 204
    gone = await api.get(f"sobjects/Contact/{record_id}")
    assert gone.status_code == 404
    assert gone.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    again = await api.delete(f"sobjects/Contact/{record_id}")
    assert again.status_code == 404
    assert again.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


@pytest.mark.parametrize(
    ("fields", "status", "code", "message"),
    [
        (
            {"FirstName": "x"},
            400,
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [LastName]",
        ),
        ({"LastName": "x", "Nope__c": 1}, 400, "INVALID_FIELD", "No such column 'Nope__c'"),
        (
            {"LastName": "x", "Name": "y"},
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: Name.",
        ),
        ({"LastName": "x" * 81}, 400, "STRING_TOO_LONG", "Last Name: data value too large"),
        (
            {"LastName": "x", "Preferred_Language__c": "tlh"},
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "bad value for restricted picklist field: tlh",
        ),
        (
            {"LastName": "x", "Email": "not-an-email"},
            400,
            "INVALID_EMAIL_ADDRESS",
            "invalid email address",
        ),
        (
            {"LastName": "x", "AccountId": "garbage"},
            400,
            "MALFORMED_ID",
            "id value of incorrect type",
        ),
        (
            {"LastName": "x", "AccountId": "0035g0000000001AAA"},
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            "id value of incorrect type",
        ),
        (
            {"LastName": "x", "AccountId": "0015g0000000001AAB"},
            400,
            "MALFORMED_ID",
            "incorrect type",
        ),
        (
            {"LastName": "x", "DoNotCall": "yes"},
            400,
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of boolean",
        ),
        (
            {"LastName": "x", "Birthdate": "31/12/1990"},
            400,
            "JSON_PARSER_ERROR",
            "instance of date",
        ),
        ({"LastName": "x", "Loyalty_Points__c": [1]}, 400, "JSON_PARSER_ERROR", "START_ARRAY"),
        ({"LastName": "x", "Id": "0035g0000000001AAA"}, 400, "INVALID_FIELD", "cannot specify Id"),
    ],
)
async def test_create_validation(
    api: httpx.AsyncClient, fields: dict[str, Any], status: int, code: str, message: str
) -> None:
    answer = await api.post("sobjects/Contact", json=fields)
    assert answer.status_code == status
    [error] = answer.json()
    assert error["errorCode"] == code
    assert message in error["message"]


async def test_reference_to_a_missing_record(api: httpx.AsyncClient) -> None:
    from crmsync.emulators.salesforce.ids import make_id

    answer = await api.post(
        "sobjects/Contact", json={"LastName": "x", "AccountId": make_id("001", 99_999)}
    )
    assert answer.json()[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert answer.json()[0]["fields"] == ["AccountId"]


async def test_duplicate_external_ids_are_refused(api: httpx.AsyncClient) -> None:
    first = await create(api, LastName="One", Customer_Number__c="CN-1")
    answer = await api.post(
        "sobjects/Contact", json={"LastName": "Two", "Customer_Number__c": "cn-1"}
    )
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    assert first in answer.json()[0]["message"]


async def test_upsert_statuses(api: httpx.AsyncClient) -> None:
    url = "sobjects/Subscription__c/External_Key__c/SUB-X"
    created = await api.patch(url, json={"Plan__c": "Free", "Active__c": True})
    assert created.status_code == 201
    assert created.json()["created"] is True
    updated = await api.patch(url, json={"Plan__c": "Plus"})
    assert updated.status_code == 200
    assert updated.json() == {
        "id": created.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    record = (await api.get(url)).json()
    assert (record["Plan__c"], record["Active__c"], record["External_Key__c"]) == (
        "Plus",
        True,
        "SUB-X",
    )
    only = await api.patch(
        "sobjects/Subscription__c/External_Key__c/NEW", params={"updateOnly": "true"}, json={}
    )
    assert only.status_code == 404
    bad = await api.patch("sobjects/Subscription__c/Plan__c/Free", json={})
    assert bad.status_code == 404
    assert (await api.delete(url)).status_code == 204
    assert (await api.get(url)).status_code == 404


async def test_several_matches_answer_300(api: httpx.AsyncClient) -> None:
    await create(api, LastName="Twin", Email="twin@example.com")
    await create(api, LastName="Twin", Email="twin@example.com")
    answer = await api.patch("sobjects/Contact/Email/twin@example.com", json={"Title": "x"})
    assert answer.status_code == 300
    urls = answer.json()
    assert len(urls) == 2
    assert all(u.startswith("/services/data/v62.0/sobjects/Contact/003") for u in urls)
    assert (await api.get("sobjects/Contact/Email/twin@example.com")).status_code == 300


async def test_unknown_objects_and_ids(api: httpx.AsyncClient) -> None:
    assert (await api.get("sobjects/Nope/0035g0000000001AAA")).status_code == 404
    assert (await api.get("sobjects/Contact/0015g0000000001AAA")).status_code == 404
    answer = await api.patch("sobjects/Contact/not-an-id", json={})
    assert answer.status_code == 404
    assert answer.json()[0]["errorCode"] == "NOT_FOUND"


async def test_a_null_checkbox_is_false(api: httpx.AsyncClient) -> None:
    record_id = await create(api, LastName="Box", DoNotCall=True)
    await api.patch(f"sobjects/Contact/{record_id}", json={"DoNotCall": None})
    assert (await api.get(f"sobjects/Contact/{record_id}")).json()["DoNotCall"] is False


async def test_oversized_bodies_are_refused(api: httpx.AsyncClient) -> None:
    from crmsync.emulators.salesforce import context

    huge = b'{"LastName": "' + b"x" * (context.MAX_BODY_BYTES + 1) + b'"}'
    answer = await api.post(
        "sobjects/Contact", content=huge, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()[0]["errorCode"] == "REQUEST_ENTITY_TOO_LARGE"


async def test_the_recycle_bin_is_emptied_after_the_retention(
    api: httpx.AsyncClient, clock: Clock
) -> None:
    record_id = await create(api, LastName="Binned")
    await api.delete(f"sobjects/Contact/{record_id}")
    soql = f"SELECT Id, IsDeleted FROM Contact WHERE Id = '{record_id}'"  # noqa: S608
    assert (await api.get("queryAll", params={"q": soql})).json()["totalSize"] == 1
    clock.advance(16 * 86_400)
    token = await api.post(
        "http://sf.test/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "a", "client_secret": "b"},
    )
    api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    assert (await api.get("queryAll", params={"q": soql})).json()["totalSize"] == 0
    assert (await api.get(f"sobjects/Contact/{record_id}")).status_code == 404


async def test_an_update_may_keep_its_own_unique_value_but_not_take_another(
    api: httpx.AsyncClient,
) -> None:
    first = await create(api, LastName="One", Customer_Number__c="CN-7")
    second = await create(api, LastName="Two", Customer_Number__c="CN-8")
    kept = await api.patch(
        f"sobjects/Contact/{first}", json={"LastName": "Uno", "Customer_Number__c": "CN-7"}
    )
    assert kept.status_code == 204
    taken = await api.patch(f"sobjects/Contact/{second}", json={"Customer_Number__c": "cn-7"})
    assert taken.status_code == 400
    assert taken.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    assert first in taken.json()[0]["message"]
