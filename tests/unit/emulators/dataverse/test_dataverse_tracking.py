"""Change tracking: initial load, delta links, deletions, paging, expiry, refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from dv_emulator_support import BASE

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.dataverse.errors import WebApiError
from crmsync.emulators.dataverse.store import DataverseStore
from crmsync.emulators.dataverse.tracking import make_delta_token, parse_delta_token

TRACK = {"Prefer": "odata.track-changes,odata.maxpagesize=4"}


async def _follow(client: httpx.AsyncClient, url: str) -> tuple[list[dict], str, list[dict]]:
    """All pages of a tracked read: (items, delta link, page bodies)."""
    items: list[dict] = []
    bodies: list[dict] = []
    next_url: str | None = url
    while True:
        answer = await client.get(next_url, headers=TRACK)
        assert answer.status_code == 200, answer.text
        assert "odata.track-changes" in answer.headers["Preference-Applied"]
        body = answer.json()
        bodies.append(body)
        items.extend(body["value"])
        if "@odata.nextLink" in body:
            assert "@odata.deltaLink" not in body
            next_url = body["@odata.nextLink"]
            continue
        return items, body["@odata.deltaLink"], bodies


async def test_initial_then_delta(client: httpx.AsyncClient, store: DataverseStore) -> None:
    items, delta, bodies = await _follow(client, "crmsync_subscriptions?$select=crmsync_name")
    assert len(items) == store.count(store.schema.by_logical_name["crmsync_subscription"])
    assert len(bodies) > 1
    assert bodies[0]["@odata.context"] == f"{BASE}/$metadata#crmsync_subscriptions(crmsync_name)"
    assert delta.startswith(f"{BASE}/crmsync_subscriptions?$select=crmsync_name&$deltatoken=")

    nothing, delta2, _ = await _follow(client, delta)
    assert nothing == []

    first, second = items[0]["crmsync_subscriptionid"], items[1]["crmsync_subscriptionid"]
    assert (
        await client.patch(f"crmsync_subscriptions({first})", json={"crmsync_name": "Changed"})
    ).status_code == 204
    assert (await client.delete(f"crmsync_subscriptions({second})")).status_code == 204
    created = await client.post("crmsync_subscriptions", json={"crmsync_name": "Brief"})
    brief_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    assert (await client.delete(f"crmsync_subscriptions({brief_id})")).status_code == 204
    changes, _, bodies = await _follow(client, delta2)
    assert bodies[0]["@odata.context"].endswith("crmsync_subscriptions(crmsync_name)/$delta")
    updated = [c for c in changes if "@odata.context" not in c]
    deleted = [c for c in changes if "@odata.context" in c]
    assert [u["crmsync_subscriptionid"] for u in updated] == [first]
    assert updated[0]["crmsync_name"] == "Changed"
    assert {d["id"] for d in deleted} == {second, brief_id}
    for entry in deleted:
        assert entry["@odata.context"] == f"{BASE}/$metadata#crmsync_subscriptions/$deletedEntity"
        assert entry["reason"] == "deleted"


async def test_deletions_page_too(client: httpx.AsyncClient) -> None:
    items, delta, _ = await _follow(client, "crmsync_subscriptions")
    for item in items[:9]:
        await client.delete(f"crmsync_subscriptions({item['crmsync_subscriptionid']})")
    changes, _, bodies = await _follow(client, delta)
    assert len(changes) == 9
    assert len(bodies) == 3


async def test_system_change_shows_in_delta(
    client: httpx.AsyncClient, store: DataverseStore
) -> None:
    items, delta, _ = await _follow(client, "contacts?$select=lastname")
    table = store.schema.by_logical_name["contact"]
    assert store.system_change(table, items[3]["contactid"])
    changes, _, _ = await _follow(client, delta)
    assert [c["contactid"] for c in changes] == [items[3]["contactid"]]
    assert changes[0]["lastname"] == items[3]["lastname"]


async def test_expired_token(client: httpx.AsyncClient, clock: Clock) -> None:
    _, delta, _ = await _follow(client, "contacts")
    clock.advance(8 * 86400)
    answer = await client.get(delta, headers=TRACK)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "0x80044352"


@pytest.mark.parametrize(
    "option", ["$filter=gendercode eq 1", "$orderby=lastname", "$top=3", "$expand=x"]
)
async def test_options_refused_with_tracking(client: httpx.AsyncClient, option: str) -> None:
    answer = await client.get(f"contacts?{option}", headers=TRACK)
    assert answer.status_code == 400
    name = option.split("=")[0]
    assert answer.json()["error"]["message"] == (
        f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.'
    )


async def test_untracked_table_is_refused(client: httpx.AsyncClient, store: DataverseStore) -> None:
    answer = await client.get("crmsync_auditnotes", headers=TRACK)
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "code": "0x80072491",
        "message": "Entity crmsync_auditnote isn't enabled for change tracking.",
    }
    store.set_tracking(store.schema.by_logical_name["crmsync_auditnote"], True)
    assert (await client.get("crmsync_auditnotes", headers=TRACK)).status_code == 200


async def test_bad_delta_tokens(client: httpx.AsyncClient) -> None:
    for token in ("nonsense", "12!13/45/2024 00:00:00", "-5!01/01/2024 00:00:00"):
        answer = await client.get(f"contacts?$deltatoken={token}", headers=TRACK)
        assert answer.status_code == 400, token


def test_token_round_trip() -> None:
    issued = datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)
    token = make_delta_token(1234, issued)
    assert token == "1234!03/04/2024 05:06:07"
    assert parse_delta_token(token) == (1234, issued)
    with pytest.raises(WebApiError):
        parse_delta_token("1234")
