"""``/api/events``: events recorded in the store (one, bulk all-or-nothing), outbound switches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import Api

from crmsync.api.services.events import MAX_BULK
from crmsync.api.users import Role
from crmsync.events.tables import EVENT_TABLES
from crmsync.optout.tables import OUTBOX
from crmsync.store import build_metadata, definitions_with_profile, publish

SEND = {
    "type": "send",
    "id": "s-1",
    "profile_id": 7,
    "delivery_id": "spring",
    "occurred_at": "2026-05-01T09:30:00+02:00",
}
CLICK = SEND | {"type": "click", "id": "c-1", "url": "https://example.com/offer"}


def _rows(api: Api, event_type: str) -> list[Any]:
    table = EVENT_TABLES[event_type]  # type: ignore[index]
    with api.supervisor.engine.connect() as conn:
        if not sa.inspect(conn).has_table(table.name):
            return []
        return list(conn.execute(sa.select(table).order_by(table.c.seq)))


async def test_an_event_is_recorded_once(api: Api) -> None:
    operator = api.auth(Role.OPERATOR)
    first = await api.client.post("/api/events", json=SEND, headers=operator)
    assert first.status_code == 201, first.text
    assert first.json() == {"added": 1, "duplicates": 0, "opted_out": 0}
    again = await api.client.post("/api/events", json=SEND | {"profile_id": 8}, headers=operator)
    assert again.json() == {"added": 0, "duplicates": 1, "opted_out": 0}
    rows = _rows(api, "send")
    assert [(r.event_id, r.profile_id) for r in rows] == [("s-1", 7)]
    assert rows[0].occurred_at.isoformat() == "2026-05-01T07:30:00+00:00"


async def test_bulk_records_every_type_in_one_call(api: Api) -> None:
    bounce = SEND | {"type": "bounce", "id": "b-1", "bounce_type": "hard", "reason": "no mailbox"}
    events = [SEND, CLICK, bounce, SEND | {"type": "open", "id": "o-1"}]
    response = await api.client.post("/api/events/bulk", json=events, headers=api.auth(Role.ADMIN))
    assert response.status_code == 201, response.text
    assert response.json()["added"] == 4
    assert [r.url for r in _rows(api, "click")] == ["https://example.com/offer"]
    assert [r.reason for r in _rows(api, "bounce")] == ["no mailbox"]


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        (CLICK | {"url": None}, "body.1.click: Value error, a click needs 'url'"),
        (SEND | {"occurred_at": "2026-05-01T09:30:00"}, "body.1.send.occurred_at"),
        (SEND | {"id": "a b"}, "body.1.send.id"),
        (SEND | {"type": "visit"}, "body.1: Input tag 'visit'"),
        (SEND | {"colour": "red"}, "body.1.send.colour"),
    ],
)
async def test_a_bulk_with_one_bad_event_records_nothing(
    api: Api, bad: dict[str, Any], where: str
) -> None:
    response = await api.client.post(
        "/api/events/bulk", json=[SEND, bad, CLICK], headers=api.auth(Role.OPERATOR)
    )
    assert response.status_code == 422
    assert where in response.json()["detail"]
    assert _rows(api, "send") == []
    assert _rows(api, "click") == []


async def test_bulk_size_is_bounded(api: Api) -> None:
    operator = api.auth(Role.OPERATOR)
    many = [SEND | {"id": f"s-{i}"} for i in range(MAX_BULK + 1)]
    too_many = await api.client.post("/api/events/bulk", json=many, headers=operator)
    assert too_many.status_code == 422
    assert "at most 10000" in too_many.json()["detail"]
    empty = await api.client.post("/api/events/bulk", json=[], headers=operator)
    assert empty.status_code == 422
    assert _rows(api, "send") == []


async def test_an_unsubscribe_before_the_profile_table_exists_is_409(api: Api) -> None:
    unsubscribe = {"type": "unsubscribe", "id": "u-1", "profile_id": 7}
    body = unsubscribe | {"occurred_at": "2026-05-01T09:30:00Z"}
    response = await api.client.post("/api/events", json=body, headers=api.auth(Role.OPERATOR))
    assert response.status_code == 409
    assert "crmsync resources publish" in response.json()["detail"]


async def test_viewers_cannot_record_events(api: Api) -> None:
    viewer = await api.client.post("/api/events", json=SEND, headers=api.auth(Role.VIEWER))
    assert viewer.status_code == 403
    bulk = await api.client.post("/api/events/bulk", json=[SEND], headers=api.auth(Role.VIEWER))
    assert bulk.status_code == 403
    assert (await api.client.post("/api/events", json=SEND)).status_code == 401
    assert _rows(api, "send") == []


async def test_the_four_switches_are_a_pending_revision_of_outbound(api: Api) -> None:
    viewer, admin = api.auth(Role.VIEWER), api.auth(Role.ADMIN)
    switches = {"send": True, "open": False, "click": True, "bounce": False}
    got = await api.client.get("/api/events/settings", headers=viewer)
    assert got.json() == {"send": False, "open": False, "click": False, "bounce": False}
    # Sending events needs outbound's connection: the checks name the missing key.
    refused = await api.client.put("/api/events/settings", json=switches, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["issues"][0]["loc"] == "outbound.connection"
    assert api.supervisor.revisions.pending("outbound") is None

    def connect(data: dict[str, Any]) -> dict[str, Any]:
        return data | {"outbound": {"connection": "dynamics"}}

    api.supervisor.edit("outbound", connect, author="admin", note="connection")
    saved = await api.client.put("/api/events/settings", json=switches, headers=admin)
    assert saved.status_code == 200, saved.text
    assert saved.json()["revision"]["note"] == "outbound events switched on: send, click"
    # What outbound runs on is the active revision until it starts; the edit is the latest.
    active = await api.client.get("/api/events/settings", headers=viewer)
    assert active.json() == {"send": False, "open": False, "click": False, "bounce": False}
    latest = await api.client.get("/api/events/settings?latest=true", headers=viewer)
    assert latest.json() == switches
    assert api.supervisor.config("outbound").outbound.events.send is False
    assert api.supervisor.config("outbound", latest=True).outbound.connection == "dynamics"


async def test_only_admins_change_the_switches(api: Api) -> None:
    for role in (Role.VIEWER, Role.OPERATOR):
        response = await api.client.put(
            "/api/events/settings", json={"send": False}, headers=api.auth(role)
        )
        assert response.status_code == 403
    invalid = await api.client.put(
        "/api/events/settings", json={"sends": True}, headers=api.auth(Role.ADMIN)
    )
    assert invalid.status_code == 422
    assert "body.sends" in invalid.json()["detail"]
    assert api.supervisor.revisions.pending("outbound") is None


async def test_an_unsubscribe_before_optinout_ever_ran_is_queued_for_the_crm(api: Api) -> None:
    """The opt-in/out outbox is created by the first unsubscribe that needs it."""
    publish(api.supervisor.engine, ())
    profile = build_metadata(definitions_with_profile(())).tables["profile"]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with api.supervisor.engine.begin() as conn:
        conn.execute(
            sa.insert(profile).values(id=7, external_id="C-7", created_at=now, modified_at=now)
        )
    body = {"type": "unsubscribe", "id": "u-1", "profile_id": 7}
    body |= {"occurred_at": "2026-05-01T09:30:00Z"}
    response = await api.client.post("/api/events", json=body, headers=api.auth(Role.OPERATOR))
    assert response.status_code == 201, response.text
    assert response.json() == {"added": 1, "duplicates": 0, "opted_out": 1}
    with api.supervisor.engine.connect() as conn:
        queued = conn.execute(sa.select(OUTBOX.c.external_id, OUTBOX.c.attribute)).all()
    assert [tuple(row) for row in queued] == [("C-7", "optout_email")]


@pytest.mark.parametrize("profile_id", [0, 2**63, 2**64 + 1])
async def test_a_profile_id_beyond_the_stores_integers_is_422(api: Api, profile_id: int) -> None:
    body = [SEND | {"profile_id": profile_id}]
    response = await api.client.post("/api/events/bulk", json=body, headers=api.auth(Role.OPERATOR))
    assert response.status_code == 422, response.text
    assert [issue["loc"] for issue in response.json()["issues"]] == ["body.0.send.profile_id"]
    assert _rows(api, "send") == []


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_a_time_beyond_the_calendar_in_utc_is_422(api: Api, at: str) -> None:
    body = SEND | {"occurred_at": at}
    response = await api.client.post("/api/events", json=body, headers=api.auth(Role.OPERATOR))
    assert response.status_code == 422, response.text
    (issue,) = response.json()["issues"]
    assert issue["loc"] == "body.send.occurred_at"
    assert "out of range" in issue["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"delivery_id": "spring\x00"}, "delivery_id"),
        ({"delivery_name": "Spring\x00sale"}, "delivery_name"),
        ({"type": "click", "url": "https://example.com/\x00"}, "url"),
        ({"type": "bounce", "bounce_type": "hard", "reason": "\x00"}, "reason"),
    ],
)
async def test_a_nul_character_in_an_events_text_is_422(
    api: Api, change: dict[str, str], field: str
) -> None:
    """PostgreSQL's text columns cannot hold NUL: refused up front on every store."""
    body = SEND | change
    response = await api.client.post("/api/events", json=body, headers=api.auth(Role.OPERATOR))
    assert response.status_code == 422, response.text
    (issue,) = response.json()["issues"]
    assert issue["loc"] == f"body.{body['type']}.{field}"
