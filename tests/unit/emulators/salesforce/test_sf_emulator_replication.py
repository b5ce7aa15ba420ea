"""``updated/`` and ``deleted/``: windows truncated to minutes, clipping, retention, id limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.salesforce.app import SalesforceEmulator, create_emulator
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.emulators.salesforce.errors import ApiError
from crmsync.emulators.salesforce.replication import window

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
API = "/services/data/v62.0"


def iso(when: datetime) -> str:
    return when.isoformat()


def test_window_truncates_seconds_and_clips_the_end() -> None:
    now = T0 + timedelta(minutes=30, seconds=42)
    span = window(T0 + timedelta(seconds=59), now + timedelta(days=1), now, T0 - timedelta(days=1))
    assert span.start == T0
    assert span.end == T0 + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("start", "end"),
    [(T0, T0), (T0, T0 + timedelta(seconds=60)), (T0 + timedelta(minutes=5), T0)],
)
def test_window_needs_more_than_a_minute(start: datetime, end: datetime) -> None:
    with pytest.raises(ApiError) as caught:
        window(start, end, T0 + timedelta(hours=1), T0 - timedelta(days=1))
    assert caught.value.code == "INVALID_REPLICATION_DATE"


def test_window_refuses_a_start_before_the_retention() -> None:
    with pytest.raises(ApiError) as caught:
        window(T0 - timedelta(days=2), T0, T0, T0 - timedelta(days=1))
    assert caught.value.code == "INVALID_REPLICATION_DATE"


async def test_updated_and_deleted_follow_the_clock(
    api: httpx.AsyncClient, emulator: SalesforceEmulator, clock: Clock
) -> None:
    clock.set(T0)
    start = clock.now()
    created = await api.post("sobjects/Contact", json={"LastName": "Repl"})
    record_id = created.json()["id"]
    clock.advance(120)
    params = {"start": iso(start - timedelta(minutes=1)), "end": iso(clock.now())}
    updated = (await api.get("sobjects/Contact/updated/", params=params)).json()
    assert updated == {"ids": [record_id], "latestDateCovered": "2024-03-01T12:02:00.000+0000"}
    await api.delete(f"sobjects/Contact/{record_id}")
    clock.advance(120)
    params = {"start": updated["latestDateCovered"], "end": iso(clock.now() + timedelta(hours=3))}
    deleted = (await api.get("sobjects/Contact/deleted/", params=params)).json()
    assert deleted["deletedRecords"] == [
        {"deletedDate": "2024-03-01T12:02:00.000+0000", "id": record_id}
    ]
    assert deleted["latestDateCovered"] == "2024-03-01T12:04:00.000+0000"
    assert deleted["earliestDateAvailable"] == "2024-02-15T12:04:00.000+0000"
    again = (await api.get("sobjects/Contact/updated/", params=params)).json()
    assert again["ids"] == []


async def test_system_changes_move_only_the_modstamp(
    api: httpx.AsyncClient, anonymous: httpx.AsyncClient, clock: Clock
) -> None:
    clock.set(T0)
    record_id = (await api.post("sobjects/Contact", json={"LastName": "Sys"})).json()["id"]
    clock.advance(300)
    answer = await anonymous.post(
        "/_emulator/system-change", json={"object": "contact", "ids": [record_id]}
    )
    assert answer.json() == {"object": "Contact", "changed": 1}
    record = (await api.get(f"sobjects/Contact/{record_id}")).json()
    assert record["LastModifiedDate"] == "2024-03-01T12:00:00.000+0000"
    assert record["SystemModstamp"] == "2024-03-01T12:05:00.000+0000"
    params = {"start": "2024-03-01T12:03:00Z", "end": "2024-03-01T12:06:00Z"}
    clock.advance(120)
    assert (await api.get("sobjects/Contact/updated", params=params)).json()["ids"] == [record_id]
    for bad in ({"object": "Nope", "ids": [record_id]}, {"object": "Contact", "ids": ["x"]}, []):
        assert (await anonymous.post("/_emulator/system-change", json=bad)).status_code == 422


async def test_bad_parameters(api: httpx.AsyncClient) -> None:
    missing = await api.get("sobjects/Contact/updated/", params={"start": "2024-01-01T00:00:00Z"})
    assert missing.status_code == 400
    assert missing.json()[0]["errorCode"] == "MISSING_ARGUMENT"
    garbage = await api.get(
        "sobjects/Contact/deleted/", params={"start": "yesterday", "end": "2024-01-01T00:00:00Z"}
    )
    assert garbage.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    old = await api.get(
        "sobjects/Contact/deleted/",
        params={"start": "2001-01-01T00:00:00Z", "end": "2001-01-02T00:00:00Z"},
    )
    assert old.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    assert (await api.get("sobjects/Nope/updated/", params={"start": "x"})).status_code == 404


async def test_too_many_ids(clock: Clock) -> None:
    emulator = create_emulator(SalesforceEmulatorSettings(replication_id_limit=10), clock=clock)
    try:
        transport = httpx.ASGITransport(app=emulator.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sf.test") as client:
            token = await client.post(
                "/services/oauth2/token",
                data={"grant_type": "client_credentials", "client_id": "a", "client_secret": "b"},
            )
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            records = [{"attributes": {"type": "Contact"}, "LastName": f"N{i}"} for i in range(11)]
            await client.post(f"{API}/composite/sobjects", json={"records": records})
            now = clock.now()
            params = {"start": iso(now - timedelta(days=1)), "end": iso(now + timedelta(hours=1))}
            clock.advance(120)
            answer = await client.get(f"{API}/sobjects/Contact/updated/", params=params)
            assert answer.status_code == 400
            assert answer.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    finally:
        emulator.close()
