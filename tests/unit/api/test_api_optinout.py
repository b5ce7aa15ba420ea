"""``/api/optinout``: direction and pairs as pending revisions; the fields a pair may use."""

from __future__ import annotations

import pytest
from api_support import Api

from crmsync.api.users import Role

SETTINGS = {
    "direction": "bidirectional",
    "connection": "dynamics",
    "mappings": [
        {"crm": "donotemail", "campaign": "optout_email"},
        {"crm": "donotphone", "campaign": "optout_phone"},
    ],
    "log_decisions": True,
}


async def test_settings_are_saved_as_a_pending_revision(api: Api) -> None:
    viewer, admin = api.auth(Role.VIEWER), api.auth(Role.ADMIN)
    got = (await api.client.get("/api/optinout", headers=viewer)).json()
    assert got == {
        "direction": "disabled",
        "connection": None,
        "crm_table": None,
        "mappings": [],
        "log_decisions": False,
    }
    saved = await api.client.put("/api/optinout", json=SETTINGS, headers=admin)
    assert saved.status_code == 200, saved.text
    assert saved.json()["revision"]["workflow"] == "optinout"
    assert saved.json()["revision"]["note"] == "opt-in/out: bidirectional, 2 mapping(s)"
    # optinout runs on its active revision until it starts: the edit is its latest.
    assert (await api.client.get("/api/optinout", headers=viewer)).json()["direction"] == "disabled"
    got = (await api.client.get("/api/optinout?latest=true", headers=viewer)).json()
    assert got == SETTINGS | {"crm_table": None}
    assert api.supervisor.config("optinout").optinout.direction == "disabled"
    latest = api.supervisor.config("optinout", latest=True).optinout
    assert [m.crm for m in latest.mappings] == ["donotemail", "donotphone"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (SETTINGS | {"direction": "sideways"}, "body.direction"),
        (SETTINGS | {"mappings": [{"crm": "x", "campaign": "first_name"}]}, "body.mappings.0"),
        (SETTINGS | {"batch_size": 5}, "body.batch_size"),
        (SETTINGS | {"mappings": []}, "optinout.mappings: direction 'bidirectional' needs"),
        (SETTINGS | {"connection": "elsewhere"}, "unknown connection 'elsewhere'"),
        (
            SETTINGS | {"mappings": [{"crm": "a", "campaign": "optout_sms"}] * 2},
            "'optout_sms' is already mapped",
        ),
    ],
)
async def test_invalid_settings_are_422_and_nothing_is_saved(
    api: Api, body: object, where: str
) -> None:
    response = await api.client.put("/api/optinout", json=body, headers=api.auth(Role.ADMIN))
    assert response.status_code == 422
    assert where in response.json()["detail"]
    assert api.supervisor.revisions.pending("optinout") is None


async def test_only_admins_change_the_settings(api: Api) -> None:
    for role in (Role.VIEWER, Role.OPERATOR):
        response = await api.client.put("/api/optinout", json=SETTINGS, headers=api.auth(role))
        assert response.status_code == 403
    assert (await api.client.get("/api/optinout")).status_code == 401
    assert api.supervisor.revisions.pending("optinout") is None


async def test_fields_are_the_opt_out_attributes_and_the_crm_booleans(api: Api) -> None:
    response = await api.client.get("/api/optinout/fields", headers=api.auth(Role.VIEWER))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [f["name"] for f in body["campaign"]] == [
        "optout_email",
        "optout_sms",
        "optout_phone",
        "optout_postal_mail",
        "optout_fax",
        "optout_mobile_app",
        "ccpa_do_not_sell",
    ]
    assert body["campaign"][0]["label"] == "No longer contact by email"
    assert body["crm"] == {
        "connection": "dynamics",
        "crm_table": "contact",
        "fields": [
            {"name": "donotemail", "label": "Do not allow Emails"},
            {"name": "donotphone", "label": "Do not allow Phone Calls"},
        ],
    }


async def test_fields_of_another_table_and_crm_failures(api: Api) -> None:
    viewer = api.auth(Role.VIEWER)
    lead = await api.client.get("/api/optinout/fields?crm_table=lead", headers=viewer)
    assert lead.json()["crm"]["fields"] == []
    unknown = await api.client.get("/api/optinout/fields?crm_table=account", headers=viewer)
    assert unknown.status_code == 404
    api.crm.down = True
    down = await api.client.get("/api/optinout/fields", headers=viewer)
    assert down.status_code == 502


HOSTILE = [
    "donotemail' OR 1=1 --",
    'donotemail"',
    "donot\x00email",
    "donotemail\nlastname",
    "../../contact",
    "crmsync_optout_outbox",
]


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("where", ["mappings", "crm_table"])
async def test_hostile_crm_names_are_422_at_their_path(api: Api, name: str, where: str) -> None:
    if where == "mappings":
        body, loc = SETTINGS | {"mappings": [{"crm": name, "campaign": "optout_email"}]}, "0.crm"
    else:
        body, loc = SETTINGS | {"crm_table": name}, ""
    response = await api.client.put("/api/optinout", json=body, headers=api.auth(Role.ADMIN))
    assert response.status_code == 422, response.text
    (issue,) = response.json()["issues"]
    assert issue["loc"] == f"body.{where}.{loc}".rstrip(".")
    assert "CRM name" in issue["message"]
    assert api.supervisor.revisions.pending("optinout") is None
    assert api.crm.describes == []  # refused before the CRM is asked


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        (
            SETTINGS | {"mappings": [{"crm": "donotmail", "campaign": "optout_email"}]},
            "optinout.mappings[0].crm",
            "unknown field 'donotmail' of CRM table 'contact' (did you mean 'donotemail'?)",
        ),
        (
            SETTINGS | {"mappings": [{"crm": "lastname", "campaign": "optout_email"}]},
            "optinout.mappings[0].crm",
            "CRM field 'lastname' is String: opt-out fields must be Boolean",
        ),
        (
            SETTINGS | {"crm_table": "people"},
            "optinout.crm_table",
            "connection 'dynamics' has no CRM table 'people'",
        ),
    ],
)
async def test_names_the_crm_does_not_have_are_422_at_their_path(
    api: Api, body: object, loc: str, message: str
) -> None:
    response = await api.client.put("/api/optinout", json=body, headers=api.auth(Role.ADMIN))
    assert response.status_code == 422, response.text
    assert response.json()["issues"] == [{"loc": loc, "message": message}]
    assert api.supervisor.revisions.pending("optinout") is None


async def test_settings_are_not_saved_unchecked_when_the_crm_is_down(api: Api) -> None:
    api.crm.down = True
    response = await api.client.put("/api/optinout", json=SETTINGS, headers=api.auth(Role.ADMIN))
    assert response.status_code == 502
    assert "503" in response.json()["detail"]
    assert api.supervisor.revisions.pending("optinout") is None
    api.crm.down = False
    saved = await api.client.put("/api/optinout", json=SETTINGS, headers=api.auth(Role.ADMIN))
    assert saved.status_code == 200, saved.text
