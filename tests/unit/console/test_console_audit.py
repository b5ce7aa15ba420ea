"""The Audit page (admins only): console actions recorded once with the console as their face,
the filters as a form, a page at a time."""

from __future__ import annotations

from console_support import Api, log_in

from crmsync.audit import Action, Face, query, record


async def test_a_console_action_is_recorded_once_and_listed(console: Api) -> None:
    headers = await log_in(console.client, "admin")
    started = await console.client.post("/console/workflows/inbound/start", headers=headers)
    assert started.status_code == 200
    (entry,) = query(console.supervisor.engine)
    assert (entry.actor, entry.face, entry.action, entry.target) == (
        "admin",
        Face.CONSOLE,
        "workflow.start",
        "inbound",
    )
    page = await console.client.get("/console/audit")
    assert page.status_code == 200
    assert 'href="/console/audit" aria-current="page">Audit</a>' in page.text
    assert "<code>workflow.start</code></td><td>inbound</td><td>ok</td>" in page.text
    assert "<td>admin</td><td>console</td>" in page.text


async def test_the_form_filters_and_a_bad_time_is_said(console: Api) -> None:
    engine = console.supervisor.engine
    record(engine, actor="ada", face=Face.API, action=Action.MAPPING_REPLAY, target="contacts")
    record(engine, actor="cli:bob", face=Face.CLI, action=Action.JOB_RUN, target="nightly")
    await log_in(console.client, "admin")
    replays = await console.client.get("/console/audit", params={"action": "mapping."})
    assert "contacts" in replays.text
    assert "nightly" not in replays.text
    bobs = await console.client.get("/console/audit", params={"user": "bob"})
    assert "nightly" in bobs.text
    assert "contacts" not in bobs.text
    later = await console.client.get("/console/audit", params={"since": "2999-01-01T00:00"})
    assert "No action matches." in later.text
    bad = await console.client.get("/console/audit", params={"since": "yesterday"})
    assert bad.status_code == 422
    assert "From: &#39;yesterday&#39; is not a time" in bad.text


async def test_pages_of_fifty_newest_first(console: Api) -> None:
    engine = console.supervisor.engine
    for number in range(55):
        record(engine, actor="ada", face=Face.API, action=Action.JOB_RUN, target=f"job{number}")
    await log_in(console.client, "admin")
    first = await console.client.get("/console/audit", params={"user": "ada"})
    assert "Actions 1–50" in first.text
    assert "<td>job54</td>" in first.text
    assert "<td>job4</td>" not in first.text
    assert 'href="/console/audit?user=ada&amp;offset=50" rel="next">Older</a>' in first.text
    assert "Newer" not in first.text
    second = await console.client.get("/console/audit", params={"user": "ada", "offset": 50})
    assert "Actions 51–55" in second.text
    assert "<td>job0</td>" in second.text
    assert "Older" not in second.text
    assert 'href="/console/audit?user=ada&amp;offset=0" rel="prev">Newer</a>' in second.text


async def test_only_admins_see_and_open_the_page(console: Api) -> None:
    await log_in(console.client, "operator")
    workflows = await console.client.get("/console/workflows")
    assert "/console/audit" not in workflows.text
    denied = await console.client.get("/console/audit")
    assert denied.status_code == 403
    assert "this needs the admin role" in denied.text
