from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

import httpx
import orjson
import pytest
from connector_fakes import FakeTime
from dv_fakes import ORG, ROOT, FakeOrg

from crmsync.connectors.base import PRECONDITION_FAILED, InvalidOperation, WriteOp
from crmsync.connectors.dataverse import DataverseConnector
from crmsync.connectors.dataverse.writer import (
    INVALID_OPERATION,
    entity_id_from_header,
    key_segment,
)
from crmsync.errors import ConfigurationError, FatalError, ProtocolError
from crmsync.odata.batch import BatchRequest, BatchResponse, decode_requests, encode_responses

ID1 = "aaaaaaaa-0000-0000-0000-000000000001"
ID2 = "aaaaaaaa-0000-0000-0000-000000000002"
ACC = "bbbbbbbb-0000-0000-0000-000000000001"

Answer = Callable[[int, BatchRequest], BatchResponse]


class BatchEndpoint:
    """``$batch`` that answers each operation with ``answer(index, request)``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.batches: list[list[BatchRequest]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/data/v9.2/$batch"
        assert request.headers["Prefer"] == "odata.continue-on-error"
        items = decode_requests(request.content, request.headers["Content-Type"])
        assert all(isinstance(item, BatchRequest) for item in items), "no change sets"
        requests = [item for item in items if isinstance(item, BatchRequest)]
        self.batches.append(requests)
        body, content_type = encode_responses([self.answer(i, r) for i, r in enumerate(requests)])
        return httpx.Response(200, content=body, headers={"Content-Type": content_type})


def _ok(index: int, request: BatchRequest) -> BatchResponse:
    record = f"cccccccc-0000-0000-0000-{index:012d}"
    return BatchResponse(204, {"OData-EntityId": f"{ROOT}contacts({record})"})


def _error(status: int, code: str, message: str, **headers: str) -> BatchResponse:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return BatchResponse(status, {"Content-Type": "application/json", **headers}, body)


async def test_operations_become_the_right_requests(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    endpoint = BatchEndpoint(_ok)
    org.data = endpoint
    ops = [
        WriteOp("create", "contact", {"firstname": "Ann", "crmsync_accountid": ACC}, id=ID1),
        WriteOp("update", "contact", {"lastname": "Lee"}, id=ID2.upper()),
        WriteOp("upsert", "account", {"name": "Contoso"}, key={"accountnumber": "A-1"}),
        WriteOp("delete", "contact", id=ID1),
        WriteOp(
            "update",
            "contact",
            {"parentcustomerid": {"table": "account", "id": ACC}, "_crmsync_accountid_value": None},
            id=ID1,
        ),
    ]
    results = await connector.write(ops)
    assert [r.ok for r in results] == [True] * 5
    (batch,) = endpoint.batches
    create, update, upsert, delete, lookups = batch
    assert (create.method, create.url) == ("POST", f"{ROOT}contacts")
    assert create.headers["content-type"] == "application/json; type=entry"
    assert orjson.loads(create.body) == {
        "firstname": "Ann",
        "crmsync_accountid@odata.bind": f"/accounts({ACC})",
        "contactid": ID1,
    }
    assert (update.method, update.url) == ("PATCH", f"{ROOT}contacts({ID2})")
    assert update.headers["if-match"] == "*"
    assert (upsert.method, unquote(upsert.url)) == (
        "PATCH",
        f"{ROOT}accounts(accountnumber='A-1')?$select=accountid",
    )
    assert "if-match" not in upsert.headers
    assert upsert.headers["prefer"] == "return=representation"
    assert (delete.method, delete.url, delete.body) == ("DELETE", f"{ROOT}contacts({ID1})", b"")
    assert orjson.loads(lookups.body) == {
        "parentcustomerid_account@odata.bind": f"/accounts({ACC})",
        "crmsync_accountid@odata.bind": None,
    }
    assert results[0].created is True
    assert results[0].id == "cccccccc-0000-0000-0000-000000000000"
    assert results[1].created is False
    assert results[3].created is None


async def test_results_map_back_with_a_failing_operation(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    def answer(index: int, request: BatchRequest) -> BatchResponse:
        if index == 1:
            return _error(404, "0x80040217", f"contact With Id = {ID2} Does Not Exist")
        if index == 2:
            return BatchResponse(201, {}, orjson.dumps({"contactid": ID1}))
        return _ok(index, request)

    org.data = BatchEndpoint(answer)
    results = await connector.write(
        [
            WriteOp("create", "contact", {"firstname": "A"}, ref="r0"),
            WriteOp("update", "contact", {"firstname": "B"}, id=ID2, ref="r1"),
            WriteOp("upsert", "contact", {"firstname": "C"}, id=ID1, ref="r2"),
        ]
    )
    assert [r.ref for r in results] == ["r0", "r1", "r2"]
    assert [r.ok for r in results] == [True, False, True]
    failed = results[1]
    assert failed.status == 404
    assert failed.code == "0x80040217"
    assert failed.message == f"contact With Id = {ID2} Does Not Exist"
    assert failed.id == ID2
    assert results[2].created is True
    assert results[2].id == ID1


async def test_ops_are_split_into_batches(connector: DataverseConnector, org: FakeOrg) -> None:
    endpoint = BatchEndpoint(_ok)
    org.data = endpoint
    ops = [WriteOp("delete", "contact", id=ID1, ref=str(i)) for i in range(2500)]
    results = await connector.write(ops)
    assert sorted(len(b) for b in endpoint.batches) == [500, 1000, 1000]
    assert [r.ref for r in results] == [str(i) for i in range(2500)]
    assert connector.counters.batches == 3


async def test_transient_item_failures_are_sent_again_alone(
    connector: DataverseConnector, org: FakeOrg, fake_time: FakeTime
) -> None:
    failures = {1: 2}  # operation 1 fails twice with 503, then succeeds

    def answer(index: int, request: BatchRequest) -> BatchResponse:
        key = orjson.loads(request.body)["firstname"]
        if key == "B" and failures[1] > 0:
            failures[1] -= 1
            return _error(503, "0x80040216", "busy")
        if key == "C":
            return _error(429, "0x80072322", "throttled", **{"Retry-After": "4"})
        return _ok(index, request)

    endpoint = BatchEndpoint(answer)
    org.data = endpoint
    results = await connector.write(
        [WriteOp("create", "contact", {"firstname": n}) for n in ("A", "B", "C")]
    )
    assert [len(b) for b in endpoint.batches] == [3, 2, 2, 1]
    assert [r.ok for r in results] == [True, True, False]
    assert results[2].status == 429
    assert connector.counters.retries == 3
    assert connector.counters.throttled == 3
    assert fake_time.now >= 1000 + 3 * 4


async def test_whole_batch_transient_failure_is_retried(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    endpoint = BatchEndpoint(_ok)
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.RemoteProtocolError("dropped")
        return endpoint(request)

    org.data = flaky
    results = await connector.write([WriteOp("delete", "contact", id=ID1)])
    assert results[0].ok
    assert calls == 2


async def test_invalid_operations_fail_alone_without_being_sent(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    endpoint = BatchEndpoint(_ok)
    org.data = endpoint
    results = await connector.write(
        [
            WriteOp("update", "contact", {"nope": 1}, id=ID1),
            WriteOp("update", "contact", {"firstname": "x"}),
            WriteOp("delete", "contact", id="not-a-guid"),
            WriteOp("update", "contact", {"parentcustomerid": ACC}, id=ID1),
            WriteOp(
                "update", "contact", {"parentcustomerid": {"table": "lead", "id": ACC}}, id=ID1
            ),
            WriteOp("upsert", "contact", {}, key={"lastname": "x"}),
            WriteOp("create", "contact", {"firstname": "ok"}),
        ]
    )
    assert [r.ok for r in results] == [False] * 6 + [True]
    assert all(r.code == INVALID_OPERATION for r in results[:6])
    messages = [r.message or "" for r in results]
    assert "no field 'nope'" in messages[0]
    assert "needs an id or an alternate key" in messages[1]
    assert "not a record id" in messages[2]
    assert "give {'table'" in messages[3]
    assert "cannot point to 'lead'" in messages[4]
    assert "not an alternate key" in messages[5]
    assert [len(b) for b in endpoint.batches] == [1]


async def test_unknown_table_fails_the_write(connector: DataverseConnector) -> None:
    with pytest.raises(ConfigurationError):
        await connector.write([WriteOp("create", "nosuch", {"a": 1})])


async def test_batch_with_wrong_part_count_is_a_protocol_error(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    def short(request: httpx.Request) -> httpx.Response:
        body, content_type = encode_responses([BatchResponse(204)])
        return httpx.Response(200, content=body, headers={"Content-Type": content_type})

    org.data = short
    with pytest.raises(ProtocolError, match="answered 1 parts"):
        await connector.write([WriteOp("delete", "contact", id=ID1)] * 2)


async def test_batch_refused_as_a_whole_is_fatal(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    org.data = lambda request: httpx.Response(
        400, json={"error": {"code": "0x80048d0b", "message": "too many"}}
    )
    with pytest.raises(FatalError, match="too many"):
        await connector.write([WriteOp("delete", "contact", id=ID1)])


async def test_empty_write_sends_nothing(connector: DataverseConnector, org: FakeOrg) -> None:
    assert await connector.write([]) == []
    assert org.requests == []


HOSTILE = [
    ("O'Brien", "'O''Brien'"),
    ("''", "''''''"),
    ("a/b?c#d", "'a%2Fb%3Fc%23d'"),
    ("x) or (1 eq 1", "'x%29%20or%20%281%20eq%201'"),
    ("100%_&=+", "'100%25_%26%3D%2B'"),
    ("Zoë 東京", "'Zo%C3%AB%20%E6%9D%B1%E4%BA%AC'"),
    ("line\nbreak\r", "'line%0Abreak%0D'"),
]


@pytest.mark.parametrize(("value", "literal"), HOSTILE)
async def test_alternate_key_literals_are_quoted_and_encoded(
    connector: DataverseConnector, value: str, literal: str
) -> None:
    info = await connector.describe("contact")
    assert key_segment(info, {"emailaddress1": value}) == f"emailaddress1={literal}"


async def test_composite_and_numeric_keys(connector: DataverseConnector) -> None:
    info = await connector.describe("contact")
    segment = key_segment(info, {"firstname": "Jo", "numberofchildren": 2})
    assert segment == "firstname='Jo',numberofchildren=2"
    with pytest.raises(InvalidOperation, match="needs an integer"):
        key_segment(info, {"firstname": "Jo", "numberofchildren": "2 or 1"})
    with pytest.raises(InvalidOperation, match="no key field"):
        key_segment(info, {"firstname') or ('": "x"})


async def test_hostile_key_reaches_the_wire_as_one_url(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    endpoint = BatchEndpoint(_ok)
    org.data = endpoint
    await connector.write(
        [WriteOp("update", "account", {"name": "n"}, key={"accountnumber": "a b'c/d"})]
    )
    url = endpoint.batches[0][0].url
    assert " " not in url
    assert url == f"{ROOT}accounts(accountnumber='a%20b''c%2Fd')"


def test_entity_id_from_header() -> None:
    assert entity_id_from_header(f"{ORG}/api/data/v9.2/contacts({ID1.upper()})") == ID1
    assert entity_id_from_header(None) is None
    assert entity_id_from_header(f"{ROOT}accounts(accountnumber='x')") is None


async def test_without_batch_each_operation_is_its_own_request(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    sent: list[tuple[str, str]] = []

    def single(request: httpx.Request) -> httpx.Response:
        assert "$batch" not in request.url.path
        sent.append((request.method, unquote(str(request.url))))
        name = orjson.loads(request.content).get("firstname") if request.content else None
        if name == "refused":
            return httpx.Response(400, json={"error": {"code": "0x80040203", "message": "bad"}})
        if name == "busy":
            return httpx.Response(503, json={"error": {"code": "0x80040216", "message": "busy"}})
        if request.headers.get("If-Match", "*") != "*":
            return httpx.Response(412, json={"error": {"code": "0x80060882", "message": "old"}})
        if request.method == "PATCH" and "$select" in str(request.url):
            return httpx.Response(201, json={"contactid": ID1})
        return httpx.Response(204, headers={"OData-EntityId": f"{ROOT}contacts({ID2})"})

    org.data = single
    results = await connector.write(
        [
            WriteOp("create", "contact", {"firstname": "Ann"}, id=ID1, ref="0"),
            WriteOp("upsert", "contact", {"firstname": "Bob"}, id=ID1, ref="1"),
            WriteOp("create", "contact", {"firstname": "refused"}, ref="2"),
            WriteOp("update", "contact", {"lastname": "Lee"}, id=ID2, if_version=7, ref="3"),
            WriteOp("delete", "contact", id=ID2, ref="4"),
            WriteOp("create", "contact", {"firstname": "busy"}, ref="5"),
        ],
        batch=False,
    )
    assert [r.ref for r in results] == ["0", "1", "2", "3", "4", "5"]
    assert [r.ok for r in results] == [True, True, False, False, True, False]
    assert results[0].created is True
    assert (results[1].created, results[1].id) == (True, ID1)
    assert (results[2].code, results[2].status) == ("0x80040203", 400)
    assert results[3].code == PRECONDITION_FAILED
    assert (results[5].status, results[5].code) == (503, "0x80040216")
    assert connector.counters.batches == 0
    methods = sorted(method for method, _ in sent)
    retried = methods.count("POST") - 3  # the busy create was sent again until the retries ran out
    assert retried == connector.counters.retries > 0
    assert methods.count("PATCH") == 2
    assert methods.count("DELETE") == 1
