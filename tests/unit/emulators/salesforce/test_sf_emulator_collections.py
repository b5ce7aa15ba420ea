"""sObject Collections over the in-process app: order, per-record errors, allOrNone, limits."""

# ruff: noqa: S608 - the statements built here are SOQL sent to the emulator, on purpose

from __future__ import annotations

from typing import Any

import httpx

from crmsync.emulators.common.faults import Fault
from crmsync.emulators.salesforce.app import SalesforceEmulator
from crmsync.emulators.salesforce.ids import make_id


def contact(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Contact"}, **fields}


async def count(api: httpx.AsyncClient, where: str) -> int:
    answer = await api.get("query", params={"q": f"SELECT COUNT() FROM Contact WHERE {where}"})
    assert answer.status_code == 200, answer.text
    total: int = answer.json()["totalSize"]
    return total


async def test_create_reports_each_record_in_order(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        "composite/sobjects",
        json={
            "allOrNone": False,
            "records": [
                contact(LastName="Alpha", Email="alpha@example.com"),
                contact(FirstName="NoLast"),
                contact(LastName="Gamma", Id="0035g0000000001AAA"),
                {"attributes": {"type": "Nope"}, "Name": "x"},
                {"LastName": "NoType"},
                contact(LastName="Delta", Preferred_Language__c="xx"),
                contact(LastName="Epsilon"),
            ],
        },
    )
    assert answer.status_code == 200
    results = answer.json()
    assert [r["success"] for r in results] == [True, False, False, False, False, False, True]
    assert results[0]["id"].startswith("0035g")
    assert results[0]["errors"] == []
    assert "created" not in results[0]
    codes = [r["errors"][0]["statusCode"] for r in results[1:6]]
    assert codes == [
        "REQUIRED_FIELD_MISSING",
        "INVALID_FIELD",
        "INVALID_TYPE",
        "INVALID_TYPE",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ]
    assert results[1]["errors"][0] == {
        "statusCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [LastName]",
        "fields": ["LastName"],
    }
    assert results[1]["id"] is None
    assert await count(api, "LastName IN ('Alpha', 'Epsilon')") == 2


async def test_all_or_none_rolls_everything_back(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        "composite/sobjects",
        json={
            "allOrNone": True,
            "records": [contact(LastName="Kept?"), contact(FirstName="Bad"), contact(LastName="X")],
        },
    )
    results = answer.json()
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "REQUIRED_FIELD_MISSING",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]
    assert all(r["id"] is None and r["success"] is False for r in results)
    assert await count(api, "LastName IN ('Kept?', 'X')") == 0
    # The ids a rolled-back request used are handed out again: nothing leaked.
    again = await api.post("composite/sobjects", json={"records": [contact(LastName="Next")]})
    assert again.json()[0]["success"] is True


async def test_update_needs_ids_and_reports_missing_records(
    api: httpx.AsyncClient, emulator: SalesforceEmulator
) -> None:
    created = await api.post("composite/sobjects", json={"records": [contact(LastName="Upd")]})
    record_id = created.json()[0]["id"]
    answer = await api.patch(
        "composite/sobjects",
        json={
            "records": [
                contact(Id=record_id, Title="Boss"),
                contact(Title="No id"),
                contact(Id="0015g0000000001AAA", Title="wrong object"),
                contact(Id=make_id("003", 999_999), Title="missing"),
                contact(Id=record_id, Name="read only"),
            ]
        },
    )
    results = answer.json()
    assert results[0] == {"id": record_id, "success": True, "errors": []}
    assert [r["errors"][0]["statusCode"] for r in results[1:]] == [
        "MISSING_ARGUMENT",
        "MALFORMED_ID",
        "INVALID_CROSS_REFERENCE_KEY",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
    ]
    record = (await api.get(f"sobjects/Contact/{record_id}")).json()
    assert record["Title"] == "Boss"
    assert record["SystemModstamp"] >= record["LastModifiedDate"]


async def test_upsert_by_external_id(api: httpx.AsyncClient) -> None:
    body = {
        "allOrNone": False,
        "records": [
            {
                "attributes": {"type": "Subscription__c"},
                "External_Key__c": "K-1",
                "Plan__c": "Free",
            },
            {"attributes": {"type": "Subscription__c"}, "External_Key__c": "K-2"},
            {"attributes": {"type": "Subscription__c"}, "Plan__c": "Basic"},
        ],
    }
    first = (
        await api.patch("composite/sobjects/Subscription__c/External_Key__c", json=body)
    ).json()
    assert [r.get("created") for r in first] == [True, True, False]
    assert first[2]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    body["records"][0]["Plan__c"] = "Premium"
    second = (
        await api.patch("composite/sobjects/Subscription__c/External_Key__c", json=body)
    ).json()
    assert [r.get("created") for r in second[:2]] == [False, False]
    assert second[0]["id"] == first[0]["id"]
    record = (await api.get(f"sobjects/Subscription__c/{first[0]['id']}")).json()
    assert record["Plan__c"] == "Premium"
    assert record["Name"] == first[0]["id"]  # unnamed custom records are named after their id
    unknown = await api.patch("composite/sobjects/Subscription__c/Plan__c", json=body)
    assert unknown.status_code == 404


async def test_delete_by_ids(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "composite/sobjects", json={"records": [contact(LastName="D1"), contact(LastName="D2")]}
    )
    one, two = (r["id"] for r in created.json())
    answer = await api.delete(
        "composite/sobjects", params={"ids": f"{one},{two},bogus,{one}", "allOrNone": "false"}
    )
    results = answer.json()
    assert [r["success"] for r in results] == [True, True, False, False]
    assert results[2]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert results[3]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert await count(api, "LastName IN ('D1', 'D2')") == 0


async def test_more_than_200_records_is_refused(api: httpx.AsyncClient) -> None:
    records = [contact(LastName=f"N{i}") for i in range(201)]
    answer = await api.post("composite/sobjects", json={"records": records})
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    ids = ",".join(["0035g0000000001AAA"] * 201)
    assert (await api.delete("composite/sobjects", params={"ids": ids})).status_code == 400


async def test_malformed_bodies(api: httpx.AsyncClient) -> None:
    for body in (b"{not json", b"[]", b'{"records": 5}', b'{"records": [], "allOrNone": "yes"}'):
        answer = await api.post(
            "composite/sobjects", content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400
        assert answer.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    wrong_type = await api.post(
        "composite/sobjects", json={"records": [contact(LastName="T", DoNotCall="yes")]}
    )
    assert wrong_type.status_code == 400
    assert wrong_type.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


async def test_batch_item_fault_fails_one_record_of_the_next_collection(
    api: httpx.AsyncClient, emulator: SalesforceEmulator
) -> None:
    faults = await api.post(
        "http://sf.test/_emulator/faults",
        json={"kind": "batch_item", "batch_index": 1, "status": 400},
    )
    assert faults.status_code == 200, faults.text
    records = [contact(LastName=f"Fault{n}") for n in range(3)]
    answer = await api.post("composite/sobjects", json={"allOrNone": False, "records": records})
    results = answer.json()
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["id"] is None
    assert results[1]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert "status 400" in results[1]["errors"][0]["message"]
    assert await count(api, "LastName IN ('Fault0', 'Fault1', 'Fault2')") == 2
    assert emulator.faults.pending() == []  # used once: the next collection is whole
    again = await api.post("composite/sobjects", json={"allOrNone": False, "records": records})
    assert all(r["success"] for r in again.json())


async def test_batch_item_fault_in_upserts_deletes_and_all_or_none(
    api: httpx.AsyncClient, emulator: SalesforceEmulator
) -> None:
    path = "composite/sobjects/Contact/Customer_Number__c"
    keyed = [contact(LastName=f"Up{n}", Customer_Number__c=f"FAULT-{n}") for n in range(3)]
    emulator.faults.add(Fault(kind="batch_item"))  # the first record by default
    upserted = (await api.patch(path, json={"allOrNone": False, "records": keyed})).json()
    assert [r["success"] for r in upserted] == [False, True, True]
    assert upserted[0]["created"] is False
    ids = [r["id"] for r in upserted[1:]]
    emulator.faults.add(Fault(kind="batch_item", batch_index=1))
    deleted = (
        await api.delete("composite/sobjects", params={"ids": ",".join(ids), "allOrNone": "false"})
    ).json()
    assert [r["success"] for r in deleted] == [True, False]
    assert deleted[1]["id"] == ids[1]
    emulator.faults.add(Fault(kind="batch_item", batch_index=0))
    records = [contact(LastName="Atomic0"), contact(LastName="Atomic1")]
    atomic = (
        await api.post("composite/sobjects", json={"allOrNone": True, "records": records})
    ).json()
    assert [r["errors"][0]["statusCode"] for r in atomic] == [
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]
    assert await count(api, "LastName IN ('Atomic0', 'Atomic1')") == 0
    emulator.faults.add(Fault(kind="batch_item", batch_index=5))  # beyond the collection
    beyond = (await api.post("composite/sobjects", json={"records": records})).json()
    assert all(r["success"] for r in beyond)
