"""Every route of the API: authentication, roles, bodies, pending revisions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from api_support import LEADS, MAPPING, PASSWORD, Api, config_text, make_api

from crmsync.api.users import Role


async def test_health_needs_no_login(api: Api) -> None:
    assert (await api.client.get("/health")).json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/workflows"),
        ("POST", "/api/workflows/inbound/start"),
        ("GET", "/api/mappings"),
        ("GET", "/api/revisions"),
        ("GET", "/api/rejects"),
        ("POST", "/api/rejects/retry"),
        ("GET", "/api/workers"),
        ("GET", "/metrics"),
        ("GET", "/api/me"),
        ("GET", "/openapi.json"),
        ("GET", "/api/crm/dynamics/tables"),
        ("GET", "/api/crm/dynamics/tables/contact"),
        ("GET", "/api/resources"),
        ("GET", "/api/resources/lead"),
        ("POST", "/api/resources"),
        ("PUT", "/api/resources/lead"),
        ("DELETE", "/api/resources/lead"),
        ("POST", "/api/events"),
        ("POST", "/api/events/bulk"),
        ("GET", "/api/events/settings"),
        ("PUT", "/api/events/settings"),
        ("GET", "/api/optinout"),
        ("PUT", "/api/optinout"),
        ("GET", "/api/optinout/fields"),
        ("GET", "/api/jobs"),
        ("POST", "/api/jobs/contacts/runs"),
        ("GET", "/api/runs"),
        ("GET", "/api/runs/1"),
        ("GET", "/api/runs/1/rejects"),
        ("POST", "/api/runs/1/resume"),
        ("GET", "/api/users"),
        ("POST", "/api/users/admin/tokens"),
    ],
)
async def test_every_other_route_needs_a_login(api: Api, method: str, path: str) -> None:
    response = await api.client.request(method, path)
    assert response.status_code == 401
    assert "log in" in response.json()["detail"]
    bad = await api.client.request(method, path, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json()["detail"] == "unknown or revoked API token"


async def test_viewer_reads_but_cannot_start_or_stop(api: Api) -> None:
    listed = await api.client.get("/api/workflows", headers=api.auth(Role.VIEWER))
    assert listed.status_code == 200
    assert [w["name"] for w in listed.json()] == ["inbound", "outbound", "optinout"]
    assert listed.json()[0]["status"] == "STOPPED"
    assert listed.json()[0]["backlog"] == 5
    for action in ("start", "stop"):
        refused = await api.client.post(
            f"/api/workflows/inbound/{action}", headers=api.auth(Role.VIEWER)
        )
        assert refused.status_code == 403
        assert "operator role" in refused.json()["detail"]
    assert not api.supervisor.is_running("inbound")


async def test_operator_starts_and_stops(api: Api) -> None:
    started = await api.client.post("/api/workflows/inbound/start", headers=api.auth(Role.OPERATOR))
    assert started.status_code == 200
    assert started.json()["status"] in ("STARTING", "RUNNING")
    assert api.supervisor.is_running("inbound")
    stopped = await api.client.post("/api/workflows/inbound/stop", headers=api.auth(Role.OPERATOR))
    assert stopped.json() == {"workflow": "inbound", "status": "STOPPED", "warning": None}
    got = await api.client.get("/api/workflows/inbound", headers=api.auth(Role.VIEWER))
    assert got.json()["counters"] == {"written": 1}


async def test_unknown_workflow_is_404(api: Api) -> None:
    response = await api.client.post("/api/workflows/nope/start", headers=api.auth(Role.ADMIN))
    assert response.status_code == 404
    assert "no workflow 'nope'" in response.json()["detail"]


async def test_mapping_crud_makes_pending_revisions(api: Api) -> None:
    admin = api.auth(Role.ADMIN)
    listed = (await api.client.get("/api/mappings", headers=api.auth(Role.VIEWER))).json()
    assert [m["name"] for m in listed] == ["contacts"]

    new = LEADS
    created = await api.client.post("/api/mappings", json=new, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["revision"]["state"] == "pending"
    assert created.json()["revision"]["author"] == "admin"
    assert "started again" in created.json()["message"]
    got = (await api.client.get("/api/mappings/leads", headers=admin)).json()
    assert got["crm_table"] == "lead"
    # The active revision is unchanged until the workflow starts again.
    assert len(api.supervisor.config("inbound").inbound.mappings) == 1

    changed = new | {
        "fields": [{"crm": "lastname", "campaign": "last_name", "apply_updates": False}]
    }
    updated = await api.client.put("/api/mappings/leads", json=changed, headers=admin)
    assert updated.status_code == 200, updated.text
    mapping = api.supervisor.config("inbound", latest=True).inbound.mappings[1]
    assert mapping.fields[0].apply_updates is False

    moved = await api.client.put(
        "/api/mappings/leads", json=changed | {"crm_table": "account"}, headers=admin
    )
    assert moved.status_code == 409
    assert "cannot change" in moved.json()["detail"]

    deleted = await api.client.delete("/api/mappings/leads", headers=admin)
    assert deleted.status_code == 200
    assert (await api.client.get("/api/mappings/leads", headers=admin)).status_code == 404

    stopped = (await api.client.post("/api/workflows/inbound/stop", headers=admin)).json()
    assert "pending edits" in stopped["warning"]

    history = (await api.client.get("/api/revisions?workflow=inbound", headers=admin)).json()
    assert [r["note"] for r in history] == [
        "mapping 'leads' deleted",
        "mapping 'leads' updated",
        "mapping 'leads' added",
        "configuration file",
    ]
    assert [r["state"] for r in history] == ["pending", "superseded", "superseded", "active"]

    added = await api.client.get(f"/api/revisions/{history[2]['id']}/changes", headers=admin)
    assert added.json()["revision"]["note"] == "mapping 'leads' added"
    diff = added.json()["diff"]
    assert f"--- revision {history[3]['id']}" in diff
    assert f"+++ revision {history[2]['id']}" in diff
    assert "+  - name: leads" in diff.splitlines()
    assert not [line for line in diff.splitlines() if line.startswith("-  ")]
    first = await api.client.get(f"/api/revisions/{history[3]['id']}/changes", headers=admin)
    assert first.json()["diff"].startswith("--- (none)\n")
    missing = await api.client.get("/api/revisions/999999/changes", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "there is no configuration revision 999999"


async def test_revision_changes_leave_out_defaults_written_out_or_left_out(
    api: Api, tmp_path: Path
) -> None:
    admin = api.auth(Role.ADMIN)
    spelled_out = config_text(tmp_path).replace(
        "      fields:\n",
        "      apply_deletes: true\n      picklist_values: technical\n      fields:\n",
    )
    assert spelled_out != config_text(tmp_path)
    same = api.supervisor.propose("inbound", spelled_out, author="admin", note="spelled out")
    answer = await api.client.get(f"/api/revisions/{same.id}/changes", headers=admin)
    assert answer.json()["diff"] == ""
    changed = spelled_out.replace("apply_deletes: true", "apply_deletes: false")
    edit = api.supervisor.propose("inbound", changed, author="admin", note="no deletes")
    diff = (await api.client.get(f"/api/revisions/{edit.id}/changes", headers=admin)).json()
    assert [line for line in diff["diff"].splitlines() if line.startswith(("+ ", "- "))] == [
        "+    apply_deletes: false"
    ]


async def test_only_admins_edit_mappings(api: Api) -> None:
    for role in (Role.VIEWER, Role.OPERATOR):
        refused = await api.client.post("/api/mappings", json=MAPPING, headers=api.auth(role))
        assert refused.status_code == 403
        assert (
            await api.client.delete("/api/mappings/contacts", headers=api.auth(role))
        ).status_code == 403
    assert len(api.supervisor.revisions.history()) == 3  # the file, once per workflow


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"name": "x"}, "body.connection"),
        (MAPPING | {"name": "bad name!"}, "body.name"),
        (MAPPING | {"fields": [{"crm": "a"}]}, "body.fields.0.campaign"),
        (MAPPING | {"surprise": 1}, "body.surprise"),
    ],
)
async def test_invalid_bodies_are_422_and_nothing_is_saved(
    api: Api, body: object, where: str
) -> None:
    response = await api.client.post("/api/mappings", json=body, headers=api.auth(Role.ADMIN))
    assert response.status_code == 422
    assert where in response.json()["detail"]
    assert api.supervisor.revisions.pending("inbound") is None


async def test_a_mapping_the_checks_refuse_is_422_with_the_path(api: Api) -> None:
    body = LEADS | {"connection": "elsewhere"}
    response = await api.client.post("/api/mappings", json=body, headers=api.auth(Role.ADMIN))
    assert response.status_code == 422
    assert any("elsewhere" in issue["message"] for issue in response.json()["issues"])
    assert api.supervisor.revisions.pending("inbound") is None


async def test_duplicate_mapping_is_409(api: Api) -> None:
    response = await api.client.post("/api/mappings", json=MAPPING, headers=api.auth(Role.ADMIN))
    assert response.status_code == 409
    assert "exists already" in response.json()["detail"]


async def test_replay_refused_over_the_limit_is_409(tmp_path: Path) -> None:
    api = make_api(tmp_path, replay_limit=0)
    await api.supervisor.close()
    response = await api.client.post(
        "/api/mappings/contacts/replay", headers=api.auth(Role.OPERATOR)
    )
    assert response.status_code == 409
    assert response.json()["code"] == "REPLAY_BACKLOG_LIMIT"
    assert "limit is 0" in response.json()["detail"]
    viewer = await api.client.post("/api/mappings/contacts/replay", headers=api.auth(Role.VIEWER))
    assert viewer.status_code == 403
    unknown = await api.client.post("/api/mappings/nope/replay", headers=api.auth(Role.OPERATOR))
    assert unknown.status_code == 404


async def test_a_replay_while_the_crm_is_down_is_502_and_records_nothing(api: Api) -> None:
    operator = api.auth(Role.OPERATOR)
    api.crm.down = True
    response = await api.client.post("/api/mappings/contacts/replay", headers=operator)
    assert response.status_code == 502, response.text
    assert response.json()["detail"] == (
        "connection 'dynamics' could not count the records of 'contact': the CRM answered 503 "
        "Service Unavailable; no replay was recorded: ask again once the CRM answers"
    )
    assert api.supervisor.state.replays.pending() == []
    api.crm.down = False
    asked = await api.client.post("/api/mappings/contacts/replay", headers=operator)
    assert (asked.status_code, asked.json()["table_rows"]) == (200, 2)
    again = await api.client.post("/api/mappings/contacts/replay", headers=operator)
    assert (again.status_code, again.json()["code"]) == (409, "REPLAY_PENDING")


async def test_export_gives_the_yaml_of_a_revision(api: Api) -> None:
    viewer = api.auth(Role.VIEWER)
    active = await api.client.get("/api/revisions/inbound/export", headers=viewer)
    assert active.headers["content-type"].startswith("application/yaml")
    assert active.text == api.supervisor.revision("inbound").yaml
    await api.client.delete("/api/mappings/contacts", headers=api.auth(Role.ADMIN))
    latest = await api.client.get("/api/revisions/inbound/export?latest=true", headers=viewer)
    assert "contacts" not in latest.text
    assert (
        "contacts" in (await api.client.get("/api/revisions/inbound/export", headers=viewer)).text
    )


async def test_rejects_are_filtered(api: Api) -> None:
    state = api.supervisor.state
    with state.engine.begin() as conn:
        state.rejects.add(conn, "inbound", "contacts", "1", "BAD_EMAIL", "not an email", {"a": 1})
        state.rejects.add(conn, "outbound", None, "2", "CRM_REFUSED", "refused", {})
    viewer = api.auth(Role.VIEWER)
    every = (await api.client.get("/api/rejects", headers=viewer)).json()
    assert {r["code"] for r in every} == {"BAD_EMAIL", "CRM_REFUSED"}
    only = (
        await api.client.get("/api/rejects?workflow=inbound&code=BAD_EMAIL", headers=viewer)
    ).json()
    assert [(r["mapping"], r["record"]) for r in only] == [("contacts", {"a": 1})]


async def test_rejects_retry_is_for_operators_and_two_way_mappings(api: Api) -> None:
    viewer, operator = api.auth(Role.VIEWER), api.auth(Role.OPERATOR)
    refused = await api.client.post("/api/rejects/retry", json={}, headers=viewer)
    assert refused.status_code == 403
    one_way = await api.client.post(
        "/api/rejects/retry", json={"mapping": "contacts"}, headers=operator
    )
    assert one_way.status_code == 409
    assert "not two-way" in one_way.json()["detail"]
    unknown = await api.client.post("/api/rejects/retry", json={"mapping": "x"}, headers=operator)
    assert unknown.status_code == 404
    # No two-way mapping at all: nothing to queue.
    none = await api.client.post("/api/rejects/retry", json={}, headers=operator)
    assert none.status_code == 200
    assert none.json() == {"queued": {}}


async def test_metrics_in_prometheus_text(api: Api) -> None:
    response = await api.client.get("/metrics", headers=api.auth(Role.VIEWER))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'crmsync_backlog{workflow="inbound"} 5.0' in response.text
    assert "crmsync_rejects 0.0" in response.text


async def test_workers_are_listed_live_first_and_counted_in_the_metrics(api: Api) -> None:
    state = api.supervisor.state
    state.workers.register("reader-1", "reader", "host-a", "host-a boot", 11)
    state.workers.register("writer-1", "writer", "host-b", "host-b boot", 22)
    state.workers.register("writer-2", "writer", "host-b", "host-b boot", 23)
    state.workers.stopped("writer-2")
    state.leases.take("inbound:contacts", "reader-1", 60)
    viewer = api.auth(Role.VIEWER)
    listed = (await api.client.get("/api/workers", headers=viewer)).json()
    assert [(w["id"], w["role"], w["holds"], w["gone"]) for w in listed] == [
        ("reader-1", "reader", ["inbound:contacts"], False),
        ("writer-1", "writer", [], False),
        ("writer-2", "writer", [], True),
    ]
    assert listed[2]["stopped_at"] is not None
    assert "machine" not in listed[0]
    metrics = (await api.client.get("/metrics", headers=viewer)).text
    assert 'crmsync_workers{role="reader"} 1.0' in metrics
    assert 'crmsync_workers{role="writer"} 1.0' in metrics
    assert "crmsync_workers_gone 1.0" in metrics
    assert 'crmsync_lease_held{lease="inbound:contacts"} 1.0' in metrics


async def test_login_session_and_csrf(api: Api) -> None:
    client = api.client
    wrong = await client.post("/api/login", json={"name": "operator", "password": "nope"})
    assert wrong.status_code == 401
    logged = await client.post("/api/login", json={"name": "operator", "password": PASSWORD})
    assert logged.status_code == 200
    csrf = logged.json()["csrf_token"]
    assert (await client.get("/api/me")).json() == {"name": "operator", "role": "operator"}

    no_csrf = await client.post("/api/workflows/inbound/start")
    assert no_csrf.status_code == 403
    assert "X-CSRF-Token" in no_csrf.json()["detail"]
    assert not api.supervisor.is_running("inbound")
    ok = await client.post("/api/workflows/inbound/start", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    await client.post("/api/workflows/inbound/stop", headers={"X-CSRF-Token": csrf})

    assert (await client.post("/api/logout", headers={"X-CSRF-Token": csrf})).status_code == 204
    assert (await client.get("/api/me")).status_code == 401


async def test_failed_logins_are_rate_limited(api: Api) -> None:
    for _ in range(3):
        bad = await api.client.post("/api/login", json={"name": "admin", "password": "wrong-one"})
        assert bad.status_code == 401
    limited = await api.client.post("/api/login", json={"name": "admin", "password": PASSWORD})
    assert limited.status_code == 429
    assert "too many failed logins" in limited.json()["detail"]
    assert int(limited.headers["Retry-After"]) > 0


async def test_one_users_failed_logins_never_hold_back_another_at_the_same_address(
    api: Api,
) -> None:
    for _ in range(3):
        bad = await api.client.post("/api/login", json={"name": "admin", "password": "wrong-one"})
        assert bad.status_code == 401
    other = await api.client.post("/api/login", json={"name": "operator", "password": PASSWORD})
    assert other.status_code == 200
    still = await api.client.post("/api/login", json={"name": "admin", "password": PASSWORD})
    assert still.status_code == 429


async def test_an_address_trying_many_user_names_is_held_back(api: Api) -> None:
    for number in range(10):
        guess = {"name": f"guess-{number}", "password": "wrong-one"}
        assert (await api.client.post("/api/login", json=guess)).status_code == 401
    limited = await api.client.post("/api/login", json={"name": "admin", "password": PASSWORD})
    assert limited.status_code == 429


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (LEADS | {"crm_table": "lead; DROP TABLE profile"}, "body.crm_table"),
        (
            LEADS | {"fields": [{"crm": "first'name", "campaign": "first_name"}]},
            "body.fields.0.crm",
        ),
        (
            LEADS | {"filters": {"conditions": [{"field": "a\x00", "op": "is_empty"}]}},
            "body.filters.conditions.0.field",
        ),
        (
            LEADS | {"replacements": [{"field": "crmsync_users", "from": "a", "to": "b"}]},
            "body.replacements.0.field",
        ),
        (LEADS | {"primary_key": {"crm": "../id", "campaign": "crm_id"}}, "body.primary_key.crm"),
        (
            LEADS | {"fields": [{"crm": "firstname", "campaign": "First Name"}]},
            "body.fields.0.campaign",
        ),
    ],
)
async def test_hostile_names_of_a_mapping_are_422_at_their_path(
    api: Api, body: dict[str, object], loc: str
) -> None:
    response = await api.client.post("/api/mappings", json=body, headers=api.auth(Role.ADMIN))
    assert response.status_code == 422, response.text
    assert [issue["loc"] for issue in response.json()["issues"]] == [loc]
    assert api.supervisor.revisions.pending("inbound") is None


@pytest.mark.parametrize(
    ("change", "loc", "message"),
    [
        (
            {"fields": [{"crm": "fristname", "campaign": "first_name"}]},
            "inbound.mappings[1].fields[0].crm",
            "unknown field 'fristname' of CRM table 'lead' (did you mean 'firstname'?)",
        ),
        (
            {"filters": {"conditions": [{"field": "status", "op": "is_empty"}]}},
            "inbound.mappings[1].filters.conditions[0].field",
            "unknown field 'status' of CRM table 'lead'",
        ),
        (
            {"primary_key": {"crm": "subject", "campaign": "crm_id"}},
            "inbound.mappings[1].primary_key.crm",
            "the primary key of CRM table 'lead' is 'leadid', not 'subject'",
        ),
        (
            {"crm_table": "leads"},
            "inbound.mappings[1].crm_table",
            "connection 'dynamics' has no CRM table 'leads'",
        ),
        (
            {
                "two_way": True,
                "replacements": [
                    {"field": "firstname", "from": "Bob", "to": "?"},
                    {"field": "firstname", "from": "Rob", "to": "?"},
                ],
            },
            "inbound.mappings[1].replacements[1].to",
            "CRM 'Bob' and 'Rob' of 'firstname' both become '?' in Campaign field 'first_name':"
            " that Campaign value cannot be written back to one CRM value",
        ),
    ],
)
async def test_a_mapping_is_checked_against_the_crm_before_it_is_saved(
    api: Api, change: dict[str, object], loc: str, message: str
) -> None:
    response = await api.client.post(
        "/api/mappings", json=LEADS | change, headers=api.auth(Role.ADMIN)
    )
    assert response.status_code == 422, response.text
    assert response.json()["issues"] == [{"loc": loc, "message": message}]
    assert api.supervisor.revisions.pending("inbound") is None


async def test_an_untracked_table_is_saved_with_a_warning(api: Api) -> None:
    response = await api.client.post("/api/mappings", json=LEADS, headers=api.auth(Role.ADMIN))
    assert response.status_code == 201, response.text
    assert (
        "warning: inbound.mappings[1].crm_table: change tracking is not enabled"
        in (response.json()["message"])
    )


async def test_the_campaign_key_field_of_a_mapping_is_fixed(api: Api) -> None:
    admin = api.auth(Role.ADMIN)
    body = MAPPING | {"primary_key": {"campaign": "email"}}
    response = await api.client.put("/api/mappings/contacts", json=body, headers=admin)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "MAPPING_KEY_FIXED"
    assert "Campaign key field" in response.json()["detail"]
    assert "'external_id'" in response.json()["detail"]
    assert api.supervisor.revisions.pending("inbound") is None
    # The CRM side of the key is detected from the metadata: naming it is no change.
    same = MAPPING | {"primary_key": {"crm": "contactid", "campaign": "external_id"}}
    saved = await api.client.put("/api/mappings/contacts", json=same, headers=admin)
    assert saved.status_code == 200, saved.text


async def test_a_defect_is_answered_as_json_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The last guard: a request that hits a defect gets a JSON 500 with a reference to the
    log, not a dropped connection. No request of the API reaches it (see test_api_schema)."""
    made = make_api(tmp_path)

    @made.app.get("/api/defect")
    def defect() -> None:
        raise KeyError("crmsync_optout_outbox")

    transport = httpx.ASGITransport(app=made.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/defect")
    made.supervisor.engine.dispose()
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == "internal_error"
    reference = body["detail"].removeprefix("internal error (reference ").split(" ")[0]
    assert "crmsync_optout_outbox" not in body["detail"]
    (record,) = [r for r in caplog.records if reference in r.getMessage()]
    assert record.getMessage() == f"GET /api/defect failed (reference {reference})"
    assert record.exc_info is not None


async def test_an_edit_saved_while_the_crm_is_asked_is_kept(api: Api) -> None:
    """The checked edit is applied to the latest configuration once the CRM has answered."""
    admin = api.auth(Role.ADMIN)
    api.crm.gate = asyncio.Event()
    body = MAPPING | {"fields": [{"crm": "lastname", "campaign": "last_name"}]}
    mapping = asyncio.create_task(
        api.client.put("/api/mappings/contacts", json=body, headers=admin)
    )
    await api.crm.asked.wait()
    resource = {"name": "plan", "fields": [{"name": "code", "type": "string"}]}
    added = await api.client.post("/api/resources", json=resource, headers=admin)
    assert added.status_code == 201, added.text
    api.crm.gate.set()
    assert (await mapping).status_code == 200
    latest = api.supervisor.config("inbound", latest=True)
    assert [r.name for r in latest.resources] == ["lead", "plan"]
    assert [f.crm for f in latest.inbound.mappings[0].fields] == ["lastname"]


@pytest.mark.parametrize(
    ("method", "url", "loc"),
    [
        ("GET", "/api/rejects?mapping=contacts%00", "query"),
        ("GET", "/api/revisions?workflow=inbound%00", "query"),
        ("GET", "/api/runs/r%00", "path"),
        ("DELETE", "/api/users/viewer%00", "path"),
        ("GET", "/api/mappings/contacts%00", "path"),
        ("GET", "/console/mappings/contacts%00/edit", "path"),
    ],
)
async def test_a_nul_character_in_a_path_or_query_is_422(
    api: Api, method: str, url: str, loc: str
) -> None:
    """No name holds one, and PostgreSQL's text cannot: refused before any route runs."""
    response = await api.client.request(method, url, headers=api.auth(Role.ADMIN))
    assert response.status_code == 422, response.text
    assert response.json()["issues"] == [{"loc": loc, "message": "a NUL character is not allowed"}]


async def test_a_nul_character_in_a_login_name_or_a_job_variable_is_422(api: Api) -> None:
    login = await api.client.post("/api/login", json={"name": "admin\x00", "password": PASSWORD})
    assert login.status_code == 422
    assert [i["loc"] for i in login.json()["issues"]] == ["body.name"]
    run = await api.client.post(
        "/api/jobs/nightly/runs",
        json={"variables": {"since": "2026\x00"}},
        headers=api.auth(Role.OPERATOR),
    )
    assert run.status_code == 422
    assert [i["loc"] for i in run.json()["issues"]] == ["body.variables.since"]
