"""``GET /api/audit``: each operator action through the API is recorded once, with who (user or
token) and the face; refusals too; the trail holds names and ids, never values or secrets; only
admins read it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from api_support import MAPPING, Api

from crmsync.api.users import Role
from crmsync.audit.tables import AUDIT


async def _trail(api: Api, **params: Any) -> list[dict[str, Any]]:
    answer = await api.client.get("/api/audit", params=params, headers=api.auth(Role.ADMIN))
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()
    return entries


def _stored(api: Api) -> str:
    """Every stored row of the trail, as text."""
    with api.supervisor.engine.connect() as conn:
        return repr(conn.execute(sa.select(AUDIT)).all())


async def test_a_mapping_edit_is_recorded_with_names_and_ids_only(api: Api) -> None:
    admin = api.auth(Role.ADMIN)
    edited = MAPPING | {"fields": [{"crm": "lastname", "campaign": "last_name"}]}
    saved = await api.client.put("/api/mappings/contacts", json=edited, headers=admin)
    assert saved.status_code == 200, saved.text
    (entry,) = await _trail(api)
    assert entry["actor"] == "token:admin"
    assert entry["face"] == "api"
    assert (entry["action"], entry["target"], entry["outcome"]) == (
        "mapping.update",
        "contacts",
        "ok",
    )
    assert entry["details"] == {"revision": saved.json()["revision"]["id"]}
    stored = _stored(api)
    assert "lastname" not in stored
    assert "last_name" not in stored


async def test_users_and_tokens_are_recorded_without_passwords_or_tokens(api: Api) -> None:
    admin = api.auth(Role.ADMIN)
    body = {"name": "olga", "role": "viewer", "password": "olga's long password"}
    assert (await api.client.post("/api/users", json=body, headers=admin)).status_code == 201
    change = {"password": "olga's other password"}
    assert (await api.client.patch("/api/users/olga", json=change, headers=admin)).is_success
    made = (await api.client.post("/api/users/olga/tokens", headers=admin)).json()
    revoked = await api.client.delete(f"/api/users/olga/tokens/{made['id']}", headers=admin)
    assert revoked.status_code == 204
    assert (await api.client.delete("/api/users/olga", headers=admin)).status_code == 204
    found = await _trail(api, action="token.")
    assert [(e["action"], e["details"]) for e in found] == [
        ("token.revoke", {"token_id": made["id"]}),
        ("token.create", {"token_id": made["id"]}),
    ]
    actions = [(e["action"], e["target"]) for e in await _trail(api, action="user.")]
    assert actions == [("user.delete", "olga"), ("user.update", "olga"), ("user.create", "olga")]
    update = (await _trail(api, action="user.update"))[0]
    assert update["details"] == {"role": None, "password_changed": True}
    stored = _stored(api)
    for secret in ("olga's long password", "olga's other password", made["token"]):
        assert secret not in stored


async def test_a_failed_action_is_recorded_with_its_code(api: Api) -> None:
    admin = api.auth(Role.ADMIN)
    taken = await api.client.post("/api/mappings", json=MAPPING, headers=admin)
    assert taken.status_code == 409
    (entry,) = await _trail(api)
    assert (entry["action"], entry["outcome"]) == ("mapping.create", "failed")
    assert entry["details"] == {"error": "MAPPING_EXISTS"}


async def test_a_refused_call_is_recorded_as_refused(api: Api) -> None:
    refused = await api.client.post("/api/workflows/inbound/start", headers=api.auth(Role.VIEWER))
    assert refused.status_code == 403
    (entry,) = await _trail(api)
    assert (entry["actor"], entry["action"], entry["target"], entry["outcome"]) == (
        "token:viewer",
        "workflow.start",
        "inbound",
        "refused",
    )
    assert entry["details"] == {"role": "viewer", "needed": "operator"}
    assert api.supervisor.is_running("inbound") is False


async def test_a_start_records_the_revision_it_activates(api: Api) -> None:
    admin, operator = api.auth(Role.ADMIN), api.auth(Role.OPERATOR)
    saved = await api.client.delete("/api/mappings/contacts", headers=admin)
    revision = saved.json()["revision"]["id"]
    assert (await api.client.post("/api/workflows/inbound/start", headers=operator)).is_success
    assert (await api.client.post("/api/workflows/inbound/stop", headers=operator)).is_success
    assert (await api.client.post("/api/workflows/inbound/start", headers=operator)).is_success
    found = [(e["actor"], e["action"], e["details"]) for e in await _trail(api)]
    assert found == [
        ("token:operator", "workflow.start", {"revision": revision}),  # nothing to activate
        ("token:operator", "workflow.stop", {}),
        ("token:operator", "revision.activate", {"revision": revision}),
        ("token:operator", "workflow.start", {"revision": revision}),
        ("token:admin", "mapping.delete", {"revision": revision}),
    ]


async def test_the_filters_and_who_may_read(api: Api) -> None:
    operator = api.auth(Role.OPERATOR)
    for name in ("inbound", "outbound"):
        assert (await api.client.post(f"/api/workflows/{name}/start", headers=operator)).is_success
    assert [e["target"] for e in await _trail(api, user="operator", action="workflow.")] == [
        "outbound",
        "inbound",
    ]
    assert await _trail(api, user="admin") == []
    assert len(await _trail(api, limit=1, offset=1)) == 1
    assert await _trail(api, since="2999-01-01T00:00:00Z") == []
    naive = await api.client.get(
        "/api/audit", params={"since": "2025-01-01T00:00:00"}, headers=api.auth(Role.ADMIN)
    )
    assert naive.status_code == 422
    for role in (Role.VIEWER, Role.OPERATOR):
        assert (await api.client.get("/api/audit", headers=api.auth(role))).status_code == 403
    assert (await api.client.get("/api/audit")).status_code == 401
