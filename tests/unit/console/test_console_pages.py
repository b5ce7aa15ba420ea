"""Every console page: login, roles (buttons disabled and refused by the server), CSRF."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from console_support import PASSWORD, Api, csrf_of, log_in

from crmsync.api.users import Role

PAGES = [
    "workflows",
    "mappings",
    "rejects",
    "revisions",
    "revisions/1",
    "mappings/contacts/edit",
    "mappings/contacts/conflicts",
]


@pytest.mark.parametrize("page", PAGES)
async def test_pages_need_a_login(console: Api, page: str) -> None:
    answer = await console.client.get(f"/console/{page}")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login"
    htmx = await console.client.get(f"/console/{page}", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/console/login"


async def test_an_api_token_does_not_open_the_console(console: Api) -> None:
    answer = await console.client.get("/console/workflows", headers=console.auth(Role.ADMIN))
    assert answer.status_code == 303


async def test_login_page_and_wrong_password(console: Api) -> None:
    page = await console.client.get("/console/login")
    assert page.status_code == 200
    assert '<label for="password">Password</label>' in page.text
    wrong = await console.client.post(
        "/console/login", data={"name": "admin", "password": "not it at all"}
    )
    assert wrong.status_code == 401
    assert "wrong user name or password" in wrong.text
    assert "crmsync_session" not in wrong.headers.get("set-cookie", "")


async def test_one_users_failed_logins_never_hold_back_another_in_the_console(
    console: Api,
) -> None:
    wrong = {"name": "admin", "password": "not it at all"}
    for _ in range(3):
        assert (await console.client.post("/console/login", data=wrong)).status_code == 401
    held = await console.client.post("/console/login", data={"name": "admin", "password": PASSWORD})
    assert held.status_code == 429
    assert "too many failed logins" in held.text
    other = await console.client.post(
        "/console/login", data={"name": "viewer", "password": PASSWORD}
    )
    assert other.status_code == 303
    assert "crmsync_session" in other.headers["set-cookie"]


@pytest.mark.parametrize("page", PAGES)
async def test_every_page_renders_for_a_viewer(console: Api, page: str) -> None:
    await log_in(console.client, "viewer")
    answer = await console.client.get(f"/console/{page}")
    assert answer.status_code == 200, answer.text
    assert 'aria-live="polite"' in answer.text
    assert "/console/static/vendor/htmx.min.js" in answer.text


async def test_static_files_are_served(console: Api) -> None:
    htmx = await console.client.get("/console/static/vendor/htmx.min.js")
    assert htmx.status_code == 200
    assert "htmx" in htmx.text[:200]
    css = await console.client.get("/console/static/console.css")
    assert css.status_code == 200


async def test_logout_needs_the_form_token_and_ends_the_session(console: Api) -> None:
    await log_in(console.client, "viewer")
    refused = await console.client.post("/console/logout", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    page = await console.client.get("/console/workflows")
    out = await console.client.post("/console/logout", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 303
    assert (await console.client.get("/console/workflows")).status_code == 303


async def test_viewer_sees_disabled_controls_and_the_server_refuses(console: Api) -> None:
    headers = await log_in(console.client, "viewer")
    page = await console.client.get("/console/workflows")
    assert 'id="toggle-inbound"' in page.text
    assert "Starting and stopping needs the operator role" in page.text
    refused = await console.client.post("/console/workflows/inbound/start", headers=headers)
    assert refused.status_code == 403
    assert "needs the operator role" in refused.text
    assert refused.headers["HX-Retarget"] == "#status"
    assert not console.supervisor.is_running("inbound")


async def test_a_missing_csrf_token_is_refused(console: Api) -> None:
    headers = await log_in(console.client, "operator")
    del headers["X-CSRF-Token"]
    refused = await console.client.post("/console/workflows/inbound/start", headers=headers)
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.text
    assert not console.supervisor.is_running("inbound")


async def test_operator_starts_and_stops_with_the_pending_warning(console: Api) -> None:
    headers = await log_in(console.client, "operator")
    started = await console.client.post("/console/workflows/inbound/start", headers=headers)
    assert started.status_code == 200
    assert console.supervisor.is_running("inbound")
    assert 'data-action="stop"' in started.text
    console.supervisor.edit("inbound", lambda data: data, author="alice", note="nothing")
    stopped = await console.client.post("/console/workflows/inbound/stop", headers=headers)
    assert not console.supervisor.is_running("inbound")
    assert 'data-testid="pending-warning"' in stopped.text
    assert "pending edits" in stopped.text
    assert 'hx-swap-oob="innerHTML"' in stopped.text


async def test_workflow_card_polls_backlog_and_counters(console: Api) -> None:
    await log_in(console.client, "viewer")
    card = await console.client.get("/console/workflows/inbound")
    assert 'hx-trigger="every 2s"' in card.text
    assert '<dd data-testid="backlog">5</dd>' in card.text


async def test_password_is_never_echoed(console: Api) -> None:
    wrong = await console.client.post(
        "/console/login", data={"name": "admin", "password": PASSWORD + "x"}
    )
    assert PASSWORD not in wrong.text


async def test_events_switches_saved_as_a_pending_revision(console: Api) -> None:
    await log_in(console.client, "admin")
    page = await console.client.get("/console/events")
    assert 'role="switch"' in page.text
    refused = await console.client.post(
        "/console/events", data={"csrf_token": csrf_of(page), "send": "on"}
    )
    assert refused.status_code == 422
    assert "<code>outbound.connection</code>: a connection is needed" in refused.text
    assert console.supervisor.revisions.pending("outbound") is None

    def connect(data: dict[str, Any]) -> dict[str, Any]:
        return data | {"outbound": {"connection": "dynamics"}}

    console.supervisor.edit("outbound", connect, author="test", note="connection")
    saved = await console.client.post(
        "/console/events", data={"csrf_token": csrf_of(page), "send": "on", "click": "on"}
    )
    assert saved.status_code == 200
    assert "saved as pending revision" in saved.text
    events = console.supervisor.config("outbound", latest=True).outbound.events
    assert (events.send, events.open, events.click, events.bounce) == (True, False, True, False)
    assert 'data-testid="pending-warning"' in saved.text


async def test_operator_cannot_save_the_events_switches(console: Api) -> None:
    await log_in(console.client, "operator")
    page = await console.client.get("/console/events")
    assert "needs the admin role" in page.text
    refused = await console.client.post(
        "/console/events", data={"csrf_token": csrf_of(page), "send": "on"}
    )
    assert refused.status_code == 403
    assert console.supervisor.revisions.pending("outbound") is None


async def _save_email_pair(console: Api, page: httpx.Response, crm: str) -> httpx.Response:
    """The opt-in/out page submitted with the email opt-out paired with ``crm``."""
    return await console.client.post(
        "/console/optinout",
        data={
            "csrf_token": csrf_of(page),
            "direction": "bidirectional",
            "connection": "dynamics",
            "pair-optout_email": crm,
        },
    )


async def test_optinout_pairs_offer_the_crm_booleans_only(console: Api) -> None:
    await log_in(console.client, "admin")
    page = await console.client.get("/console/optinout")
    assert page.status_code == 200
    assert "<option>donotemail</option>" in page.text
    assert "<option>lastname</option>" not in page.text
    saved = await _save_email_pair(console, page, "donotemail")
    assert saved.status_code == 200, saved.text
    settings = console.supervisor.config("optinout", latest=True).optinout
    assert settings.direction == "bidirectional"
    assert [(m.crm, m.campaign.value) for m in settings.mappings] == [
        ("donotemail", "optout_email")
    ]


async def test_a_revision_shows_what_it_changed(console: Api) -> None:
    await log_in(console.client, "viewer")
    saved = console.supervisor.edit(
        "inbound",
        lambda data: data | {"inbound": data["inbound"] | {"poll_interval_seconds": 9}},
        author="alice",
        note="polling slowed down",
    )
    listed = await console.client.get("/console/revisions")
    assert f'href="/console/revisions/{saved.id}"' in listed.text
    page = await console.client.get(f"/console/revisions/{saved.id}")
    assert page.status_code == 200
    assert "polling slowed down" in page.text
    assert "alice" in page.text
    assert '<span class="added">+  poll_interval_seconds: 9</span>' in page.text
    missing = await console.client.get("/console/revisions/999999")
    assert missing.status_code == 404
    assert "there is no configuration revision 999999" in missing.text


async def test_optinout_pairs_are_checked_like_the_apis(console: Api) -> None:
    await log_in(console.client, "admin")
    page = await console.client.get("/console/optinout")
    for name, problem in [
        ("donotemail\nOR 1=1", "invalid CRM name"),
        ("lastname", "opt-out fields must be Boolean"),
    ]:
        refused = await _save_email_pair(console, page, name)
        assert refused.status_code == 422
        assert problem in refused.text
    assert console.supervisor.revisions.pending("optinout") is None
