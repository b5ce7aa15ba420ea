from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from connector_fakes import FakeTime
from sf_fakes import ROOT, FakeOrg, sf_error

from crmsync.connectors.base import WriteOp
from crmsync.connectors.salesforce import SalesforceConnector
from crmsync.connectors.salesforce.writer import INVALID_OPERATION
from crmsync.errors import FatalError


def _calls(org: FakeOrg) -> list[httpx.Request]:
    return [r for r in org.requests if "composite" in r.url.path]


async def test_creates_are_sent_200_at_a_time_in_order(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    ops = [WriteOp("create", "Contact", {"LastName": f"N{i}"}, ref=str(i)) for i in range(450)]
    results = await connector.write(ops)
    calls = _calls(org)
    assert [len(orjson.loads(c.content)["records"]) for c in calls] == [200, 200, 50]
    first = orjson.loads(calls[0].content)
    assert first["allOrNone"] is False
    assert first["records"][0] == {"attributes": {"type": "Contact"}, "LastName": "N0"}
    assert all(c.method == "POST" and c.url.path == f"{ROOT}composite/sobjects" for c in calls)
    assert [r.ref for r in results] == [str(i) for i in range(450)]
    assert all(r.ok and r.created is True for r in results)
    names = [org.rows["Contact"][r.id or ""]["LastName"] for r in results]
    assert names == [f"N{i}" for i in range(450)]


async def test_partial_failures_keep_the_good_records(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    results = await connector.write(
        [
            WriteOp("create", "Contact", {"LastName": "Good"}, ref="a"),
            WriteOp("create", "Contact", {"FirstName": "No last name"}, ref="b"),
            WriteOp("create", "Contact", {"LastName": "Also good"}, ref="c"),
        ]
    )
    assert [(r.ref, r.ok) for r in results] == [("a", True), ("b", False), ("c", True)]
    assert results[1].code == "REQUIRED_FIELD_MISSING"
    assert results[1].message == "Required fields are missing: [LastName] (fields: LastName)"
    assert len(org.rows["Contact"]) == 2


async def test_update_upsert_delete(connector: SalesforceConnector, org: FakeOrg) -> None:
    existing = org.add("Contact", LastName="Old", External_Id__c="X-1")
    results = await connector.write(
        [
            WriteOp("update", "Contact", {"LastName": "New"}, id=existing),
            WriteOp("upsert", "Contact", {"LastName": "Upd"}, key={"External_Id__c": "X-1"}),
            WriteOp("upsert", "Contact", {"LastName": "Ins"}, key={"External_Id__c": "X-2"}),
            WriteOp("delete", "Contact", id=existing),
        ]
    )
    assert all(r.ok for r in results), results
    assert [r.created for r in results] == [False, False, True, None]
    assert results[1].id == existing
    assert existing not in org.rows["Contact"]
    update, upsert, delete = _calls(org)
    assert (update.method, update.url.path) == ("PATCH", f"{ROOT}composite/sobjects")
    assert orjson.loads(update.content)["records"][0]["Id"] == existing
    assert (upsert.method, upsert.url.path) == (
        "PATCH",
        f"{ROOT}composite/sobjects/Contact/External_Id__c",
    )
    assert [r["External_Id__c"] for r in orjson.loads(upsert.content)["records"]] == ["X-1", "X-2"]
    assert delete.method == "DELETE"
    assert delete.url.params["ids"] == existing
    assert delete.url.params["allOrNone"] == "false"


async def test_per_record_failures_of_updates_and_deletes(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    gone = "003000000000999AAA"
    results = await connector.write(
        [
            WriteOp("update", "Contact", {"LastName": "x"}, id=gone),
            WriteOp("delete", "Contact", id=gone),
        ]
    )
    assert [(r.ok, r.code) for r in results] == [
        (False, "ENTITY_IS_DELETED"),
        (False, "ENTITY_IS_DELETED"),
    ]
    assert results[0].id == gone


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (WriteOp("create", "Contact", {"Nope": 1}), "no field 'Nope'"),
        (WriteOp("create", "Contact", {"LastName": "x"}, id="003000000000001AAA"), "chooses"),
        (WriteOp("update", "Contact", {"LastName": "x"}), "needs the record id"),
        (WriteOp("update", "Contact", {"LastName": "x"}, id="x' OR 1=1"), "not a Salesforce"),
        (WriteOp("upsert", "Contact", {"LastName": "x"}, key={"LastName": "x"}), "not an external"),
        (
            WriteOp("upsert", "Contact", {}, key={"External_Id__c": "a", "Email": "b"}),
            "one external id",
        ),
        (WriteOp("upsert", "Contact", {}, key={"External_Id__c": ""}), "is empty"),
        (
            WriteOp("upsert", "Contact", {"External_Id__c": "b"}, key={"External_Id__c": "a"}),
            "another value",
        ),
        (WriteOp("upsert", "Contact", {"LastName": "x"}), "external id key"),
        (WriteOp("delete", "Contact", key={"External_Id__c": "a"}), "by Id only"),
        (
            WriteOp("create", "Contact", {"AccountId": {"table": "Lead", "id": "00Q"}}),
            "cannot point to 'Lead'",
        ),
    ],
)
async def test_invalid_operations_fail_alone_without_a_call(
    connector: SalesforceConnector, org: FakeOrg, op: WriteOp, message: str
) -> None:
    good = WriteOp("create", "Contact", {"LastName": "Fine"})
    results = await connector.write([op, good])
    assert not results[0].ok
    assert results[0].code == INVALID_OPERATION
    assert message in (results[0].message or "")
    assert results[1].ok
    assert len(_calls(org)) == 1


async def test_lookups_pass_through_as_ids(connector: SalesforceConnector, org: FakeOrg) -> None:
    account = org.add("Account", Name="Acme")
    await connector.write(
        [
            WriteOp("create", "Contact", {"LastName": "A", "AccountId": account}),
            WriteOp(
                "create",
                "Contact",
                {"LastName": "B", "AccountId": {"table": "Account", "id": account}},
            ),
        ]
    )
    records = orjson.loads(_calls(org)[0].content)["records"]
    assert [r["AccountId"] for r in records] == [account, account]


async def test_a_whole_call_refused_becomes_per_record_rejects(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    org.before.append(
        lambda r: (
            sf_error(400, "INVALID_FIELD", "No such column") if "composite" in r.url.path else None
        )
    )
    results = await connector.write(
        [WriteOp("create", "Contact", {"LastName": f"N{i}"}, ref=str(i)) for i in range(3)]
    )
    assert [(r.ok, r.code, r.status) for r in results] == [(False, "INVALID_FIELD", 400)] * 3


async def test_transient_failure_of_a_call_is_retried(
    connector: SalesforceConnector, org: FakeOrg, fake_time: FakeTime
) -> None:
    failures = iter([sf_error(503, "SERVER_UNAVAILABLE")])
    org.before.append(lambda r: next(failures, None) if "composite" in r.url.path else None)
    results = await connector.write([WriteOp("create", "Contact", {"LastName": "Once"})])
    assert results[0].ok
    assert len(_calls(org)) == 2
    assert connector.counters.retries == 1


async def test_locked_rows_are_sent_again_alone(
    connector: SalesforceConnector, org: FakeOrg, fake_time: FakeTime
) -> None:
    locked = iter([True])

    def lock_second(request: httpx.Request) -> httpx.Response | None:
        if "composite" not in request.url.path or not next(locked, False):
            return None
        records = orjson.loads(request.content)["records"]
        answer: list[dict[str, Any]] = [
            {
                "id": org.add("Contact", LastName=records[0]["LastName"]),
                "success": True,
                "errors": [],
            },
            {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "lock"}]},
        ]
        return httpx.Response(200, json=answer)

    org.before.append(lock_second)
    results = await connector.write(
        [WriteOp("create", "Contact", {"LastName": n}) for n in ("First", "Second")]
    )
    assert all(r.ok for r in results)
    second = orjson.loads(_calls(org)[1].content)["records"]
    assert [r["LastName"] for r in second] == ["Second"]


async def test_answers_of_the_wrong_length_are_protocol_errors(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    org.before.append(lambda r: httpx.Response(200, json=[]) if "composite" in r.url.path else None)
    with pytest.raises(FatalError, match="answered 0 results"):
        await connector.write([WriteOp("create", "Contact", {"LastName": "x"})])


async def test_without_batch_each_operation_goes_alone_to_sobject_rows(
    connector: SalesforceConnector, org: FakeOrg
) -> None:
    sent: list[tuple[str, str]] = []
    bodies: list[Any] = []
    new_id, kept_id, refused_id = "003000000000001AAA", "003000000000002AAA", "003000000000003AAA"

    def rows(request: httpx.Request) -> httpx.Response | None:
        path = request.url.raw_path.decode().split("?")[0]
        if "/sobjects/Contact" not in path or request.method == "GET":
            return None
        sent.append((request.method, path.removeprefix(ROOT)))
        bodies.append(orjson.loads(request.content) if request.content else None)
        if path.endswith(refused_id):
            return sf_error(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "not today")
        if request.method == "POST":
            return httpx.Response(201, json={"id": new_id, "success": True, "errors": []})
        if "External_Id__c" in path:
            body = {"id": kept_id, "success": True, "errors": [], "created": False}
            return httpx.Response(200, json=body)
        return httpx.Response(204)

    org.before.append(rows)
    results = await connector.write(
        [
            WriteOp("create", "Contact", {"LastName": "New"}, ref="0"),
            WriteOp("upsert", "Contact", {"LastName": "Kept"}, key={"External_Id__c": "A/1 b"}),
            WriteOp("update", "Contact", {"LastName": "No"}, id=refused_id, ref="2"),
            WriteOp("delete", "Contact", id=kept_id, ref="3"),
        ],
        batch=False,
    )
    assert sent == [
        ("POST", "sobjects/Contact"),
        ("PATCH", "sobjects/Contact/External_Id__c/A%2F1%20b"),
        ("PATCH", f"sobjects/Contact/{refused_id}"),
        ("DELETE", f"sobjects/Contact/{kept_id}"),
    ]
    assert _calls(org) == []
    # The external id travels in the path only; Id and attributes never in a body.
    assert bodies == [{"LastName": "New"}, {"LastName": "Kept"}, {"LastName": "No"}, None]
    assert [(r.ok, r.id, r.created) for r in results] == [
        (True, new_id, True),
        (True, kept_id, False),
        (False, refused_id, None),
        (True, kept_id, None),
    ]
    assert results[2].code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert results[2].status == 400
