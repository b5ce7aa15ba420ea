"""``/api/resources``: profile and custom resources, publication, edits as pending revisions."""

from __future__ import annotations

import pytest
from api_support import Api

from crmsync.api.users import Role
from crmsync.store import publish

EVENTS = {
    "name": "subscription",
    "identifier": "code",
    "fields": [
        {"name": "code", "type": "string", "length": 36},
        {"name": "level", "type": "integer"},
    ],
}


async def test_list_shows_profile_and_custom_resources_with_their_publication(api: Api) -> None:
    viewer = api.auth(Role.VIEWER)
    listed = (await api.client.get("/api/resources", headers=viewer)).json()
    assert [(r["name"], r["builtin"], r["publication"]) for r in listed] == [
        ("profile", True, "unpublished"),
        ("lead", False, "unpublished"),
    ]
    publish(api.supervisor.engine, api.supervisor.config("inbound").resources)
    lead = (await api.client.get("/api/resources/lead", headers=viewer)).json()
    assert lead["publication"] == "published"
    assert lead["identifier"] == "crm_id"
    assert [f["name"] for f in lead["fields"]] == ["crm_id", "first_name", "last_name"]
    profile = (await api.client.get("/api/resources/profile", headers=viewer)).json()
    assert profile["publication"] == "published"
    assert "optout_email" in [f["name"] for f in profile["fields"]]

    changed = {
        "name": "lead",
        "identifier": "crm_id",
        "fields": [*lead["fields"], {"name": "company", "type": "string"}],
    }
    saved = await api.client.put("/api/resources/lead", json=changed, headers=api.auth(Role.ADMIN))
    assert saved.status_code == 200, saved.text
    assert "crmsync resources publish" in saved.json()["message"]
    lead = (await api.client.get("/api/resources/lead", headers=viewer)).json()
    assert lead["publication"] == "changed"
    assert lead["fields"][-1]["name"] == "company"


async def test_create_and_delete_make_pending_revisions(api: Api) -> None:
    admin = api.auth(Role.ADMIN)
    created = await api.client.post("/api/resources", json=EVENTS, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["revision"]["state"] == "pending"
    latest = api.supervisor.config("inbound", latest=True).resources
    assert [r.name for r in latest] == ["lead", "subscription"]
    assert [r.name for r in api.supervisor.config("inbound").resources] == ["lead"]
    again = await api.client.post("/api/resources", json=EVENTS, headers=admin)
    assert again.status_code == 409
    deleted = await api.client.delete("/api/resources/subscription", headers=admin)
    assert deleted.status_code == 200
    assert [r.name for r in api.supervisor.config("inbound", latest=True).resources] == ["lead"]
    missing = await api.client.get("/api/resources/subscription", headers=admin)
    assert missing.status_code == 404


async def test_profile_cannot_be_edited_and_names_are_fixed(api: Api) -> None:
    admin = api.auth(Role.ADMIN)
    profile = await api.client.delete("/api/resources/profile", headers=admin)
    assert profile.status_code == 409
    assert "built in" in profile.json()["detail"]
    renamed = await api.client.put("/api/resources/lead", json=EVENTS, headers=admin)
    assert renamed.status_code == 409
    assert "cannot change" in renamed.json()["detail"]
    unknown = await api.client.put("/api/resources/nope", json=EVENTS, headers=admin)
    assert unknown.status_code == 404
    assert api.supervisor.revisions.pending("inbound") is None


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"fields": []}, "body.name"),
        (EVENTS | {"identifier": "nope"}, "identifier 'nope' is not one of the fields"),
        (EVENTS | {"fields": [{"name": "code", "type": "blob"}]}, "body.fields.0.type"),
        (EVENTS | {"name": "bad name"}, "body.name"),
        (EVENTS | {"extra": 1}, "body.extra"),
    ],
)
async def test_invalid_resources_are_422_and_nothing_is_saved(
    api: Api, body: object, where: str
) -> None:
    response = await api.client.post("/api/resources", json=body, headers=api.auth(Role.ADMIN))
    assert response.status_code == 422
    assert where in response.json()["detail"]
    assert api.supervisor.revisions.pending("inbound") is None


async def test_a_resource_the_checks_refuse_is_422_with_its_path(api: Api) -> None:
    # A mapping writes into 'lead' through its identifier: removing the field breaks it.
    admin = api.auth(Role.ADMIN)
    mapped = {
        "name": "leads",
        "connection": "dynamics",
        "crm_table": "lead",
        "resource": "lead",
        "primary_key": {"campaign": "crm_id"},
    }
    assert (await api.client.post("/api/mappings", json=mapped, headers=admin)).status_code == 201
    pending = api.supervisor.revisions.pending("inbound")
    deleted = await api.client.delete("/api/resources/lead", headers=admin)
    assert deleted.status_code == 422
    assert any("lead" in issue["message"] for issue in deleted.json()["issues"])
    assert api.supervisor.revisions.pending("inbound") == pending


async def test_only_admins_edit_resources(api: Api) -> None:
    for role in (Role.VIEWER, Role.OPERATOR):
        headers = api.auth(role)
        assert (
            await api.client.post("/api/resources", json=EVENTS, headers=headers)
        ).status_code == 403
        assert (
            await api.client.put("/api/resources/lead", json=EVENTS, headers=headers)
        ).status_code == 403
        assert (await api.client.delete("/api/resources/lead", headers=headers)).status_code == 403
    assert (await api.client.get("/api/resources")).status_code == 401
    assert api.supervisor.revisions.pending("inbound") is None
