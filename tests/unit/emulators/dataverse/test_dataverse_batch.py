"""``$batch``: change sets, Content-ID references, error handling, limits, faults."""

from __future__ import annotations

import httpx
import orjson

from crmsync.emulators.common.faults import Fault, FaultPlan
from crmsync.odata.batch import (
    BatchRequest,
    BatchResponse,
    ChangeSet,
    ChangeSetResponse,
    decode_responses,
    encode_requests,
)

JSON = {"Content-Type": "application/json; type=entry"}


def _post(url: str, body: dict, content_id: str | None = None) -> BatchRequest:
    return BatchRequest("POST", url, dict(JSON), orjson.dumps(body), content_id)


async def _send(
    client: httpx.AsyncClient, items: list, prefer: str | None = None
) -> tuple[int, list[BatchResponse | ChangeSetResponse]]:
    body, content_type = encode_requests(items)
    headers = {"Content-Type": content_type}
    if prefer:
        headers["Prefer"] = prefer
    answer = await client.post("$batch", content=body, headers=headers)
    assert answer.headers["content-type"].startswith("multipart/mixed")
    return answer.status_code, decode_responses(answer.content, answer.headers["content-type"])


async def test_change_set_with_references(client: httpx.AsyncClient) -> None:
    status, answers = await _send(
        client,
        [
            ChangeSet(
                [
                    _post("/api/data/v9.2/contacts", {"lastname": "Parent"}, "1"),
                    _post(
                        "crmsync_subscriptions",
                        {"crmsync_name": "S", "crmsync_contactid@odata.bind": "$1"},
                        "2",
                    ),
                    BatchRequest("PATCH", "$1", dict(JSON), b'{"firstname":"Pat"}', "3"),
                ]
            ),
            BatchRequest("GET", "contacts?$select=fullname&$filter=lastname%20eq%20'Parent'", {}),
        ],
    )
    assert status == 200
    change_set, read = answers
    assert isinstance(change_set, ChangeSetResponse)
    assert [r.status for r in change_set.responses] == [204, 204, 204]
    assert [r.content_id for r in change_set.responses] == ["1", "2", "3"]
    assert isinstance(read, BatchResponse)
    assert orjson.loads(read.body)["value"][0]["fullname"] == "Pat Parent"


async def test_change_set_is_atomic_and_batch_stops(client: httpx.AsyncClient) -> None:
    status, answers = await _send(
        client,
        [
            ChangeSet(
                [
                    _post("contacts", {"lastname": "Rolled back"}, "1"),
                    _post("contacts", {"gendercode": 99}, "2"),
                ]
            ),
            _post("contacts", {"lastname": "Never"}),
        ],
    )
    assert status == 400
    assert len(answers) == 1
    failure = answers[0]
    assert isinstance(failure, BatchResponse)
    assert failure.status == 400
    assert orjson.loads(failure.body)["error"]["code"] == "0x8004431a"
    found = (
        await client.get("contacts?$filter=lastname eq 'Rolled back' or lastname eq 'Never'")
    ).json()
    assert found["value"] == []


async def test_continue_on_error(client: httpx.AsyncClient) -> None:
    status, answers = await _send(
        client,
        [_post("contacts", {"bogus": 1}), _post("contacts", {"lastname": "Kept"})],
        prefer="odata.continue-on-error",
    )
    assert status == 200
    assert [a.status for a in answers if isinstance(a, BatchResponse)] == [400, 204]


async def test_get_inside_change_set_is_refused(client: httpx.AsyncClient) -> None:
    status, answers = await _send(
        client, [ChangeSet([BatchRequest("GET", "contacts", {}, b"", "1")])]
    )
    assert status == 400
    assert isinstance(answers[0], BatchResponse)
    assert answers[0].status == 400


async def test_too_many_operations(client: httpx.AsyncClient) -> None:
    body, content_type = encode_requests([BatchRequest("GET", "contacts?$top=1", {})] * 1001)
    answer = await client.post("$batch", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 400
    assert "1000" in answer.json()["error"]["message"]


async def test_malformed_batch(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "$batch", content=b"--x\r\nnonsense", headers={"Content-Type": "multipart/mixed"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("The batch request is malformed")


async def test_batch_item_fault(client: httpx.AsyncClient, faults: FaultPlan) -> None:
    faults.add(Fault(kind="batch_item", status=503, batch_index=1))
    status, answers = await _send(
        client,
        [
            _post("contacts", {"lastname": "F0"}),
            _post("contacts", {"lastname": "F1"}),
            _post("contacts", {"lastname": "F2"}),
        ],
        prefer="odata.continue-on-error",
    )
    assert status == 200
    assert [a.status for a in answers if isinstance(a, BatchResponse)] == [204, 503, 204]
    assert faults.pending() == []
