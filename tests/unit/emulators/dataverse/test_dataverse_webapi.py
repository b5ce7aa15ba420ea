"""Dispatch, error shapes, read-ahead and control routes."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from crmsync.emulators.dataverse.errors import error_body
from crmsync.emulators.dataverse.store import DataverseStore
from crmsync.emulators.dataverse.webapi import WebApi, control_routes, parse_prefer, parse_query


async def test_unknown_set_and_method(client: httpx.AsyncClient) -> None:
    answer = await client.get("foo")
    assert answer.status_code == 404
    assert answer.json() == {
        "error": {"code": "0x80060888", "message": "Resource not found for the segment 'foo'."}
    }
    assert answer.headers["content-type"] == "application/json; odata.metadata=minimal"
    assert answer.headers["OData-Version"] == "4.0"
    assert (await client.put("contacts")).status_code == 405
    assert (await client.delete("contacts")).status_code == 405


async def test_hostile_paths_never_500(client: httpx.AsyncClient) -> None:
    for path in (
        "contacts('",
        "contacts(%00)",
        "..%2F..%2Fetc",
        "contacts(a=1)/x/y/z",
        "$batch/x",
        "contacts(contactid='x')",
        "EntityDefinitions(LogicalName='contact')/Nope",
    ):
        answer = await client.get(path)
        assert 400 <= answer.status_code < 500, path
        assert "error" in answer.json()


def test_error_body_defaults() -> None:
    body, content_type = error_body(429)
    assert b"0x80072322" in body
    assert content_type == "application/json; odata.metadata=minimal"


def test_parse_helpers() -> None:
    assert parse_prefer('odata.maxpagesize=10, odata.include-annotations="*"') == {
        "odata.maxpagesize": "10",
        "odata.include-annotations": '"*"',
    }
    assert parse_query("%24filter=modifiedon+gt%202024-01-01T00:00:00%2B01:00&a") == {
        "$filter": "modifiedon gt 2024-01-01T00:00:00+01:00",
        "a": "",
    }


async def test_read_ahead_serves_fresh_pages(client: httpx.AsyncClient, api: WebApi) -> None:
    prefer = {"Prefer": "odata.maxpagesize=10"}
    first = (await client.get("contacts?$select=lastname", headers=prefer)).json()
    victim = first["value"][0]["contactid"]
    second_url = first["@odata.nextLink"]
    # A write after page 1 makes the prepared page 2 stale; it must be recomputed.
    row = (await client.get("contacts?$select=lastname&$orderby=contactid&$top=20")).json()["value"]
    target = [r for r in row if r["contactid"] > victim][12]["contactid"]
    await client.patch(f"contacts({target})", json={"lastname": "Fresh"})
    second = (await client.get(second_url, headers=prefer)).json()
    assert {"contactid": target, "lastname": "Fresh"}.items() <= next(
        r for r in second["value"] if r["contactid"] == target
    ).items()


async def test_control_routes(store: DataverseStore) -> None:
    app = Starlette(routes=[Mount("/_emulator", routes=control_routes(store))])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://e"
    ) as http:
        contact = store.schema.by_logical_name["contact"]
        with store.reading() as conn:
            record_id = conn.exec_driver_sql("SELECT contactid FROM contact LIMIT 1").scalar_one()
        before = store.current_version
        answer = await http.post(
            "/_emulator/system-change", json={"table": "contact", "id": record_id}
        )
        assert answer.status_code == 200
        assert answer.json()["version"] == before + 1
        assert (
            await http.post("/_emulator/system-change", json={"table": "nope", "id": "x"})
        ).status_code == 422
        assert (await http.post("/_emulator/system-change", content=b"[")).status_code == 422
        missing = {"table": "contact", "id": "00000000-0000-0000-0000-000000000000"}
        assert (await http.post("/_emulator/system-change", json=missing)).status_code == 404
        off = await http.post("/_emulator/tables/contact/change-tracking", json={"enabled": False})
        assert off.json() == {"table": "contact", "enabled": False}
        assert store.tracking_enabled(contact) is False
        bad = await http.post("/_emulator/tables/contact/change-tracking", json={"enabled": "no"})
        assert bad.status_code == 422
