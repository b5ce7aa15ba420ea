"""The Jobs page (runs started by operators, a run's steps) and the Users page (admins only)."""

from __future__ import annotations

import re
from pathlib import Path

from console_support import Api, csrf_of, log_in

from crmsync.api.services.jobs import JobService

JOB = """version: 1
name: names
description: Last names to a file
steps:
  read:
    kind: crm
    operation: import
    connection: dynamics
    object: contact
    fields: [{{name: lastname}}]
    next: save
  save:
    kind: write_file
    path: {folder}/names-{{run_id}}.jsonl
"""


def _jobs(console: Api, folder: Path) -> JobService:
    (folder / "jobs").mkdir()
    (folder / "jobs" / "names.yaml").write_text(JOB.format(folder=folder))
    service: JobService = console.app.state.job_service
    return service


async def test_operator_starts_a_run_and_reads_its_steps(console: Api, tmp_path: Path) -> None:
    service = _jobs(console, tmp_path)
    headers = await log_in(console.client, "operator")
    page = await console.client.get("/console/jobs")
    assert "Last names to a file" in page.text
    assert "No run yet." in page.text
    started = await console.client.post("/console/jobs/names/start", headers=headers)
    assert started.status_code == 200
    assert "of &#39;names&#39; started" in started.text
    await service.wait()
    runs = await console.client.get("/console/jobs/runs")
    run_id = re.search(r'/console/jobs/runs/([^"]+)"', runs.text)
    assert run_id is not None
    # The job's row: not scheduled, its last run linked with its result.
    page = await console.client.get("/console/jobs")
    assert "<td>when asked</td>" in page.text
    assert f'<a href="/console/jobs/runs/{run_id[1]}">succeeded</a>' in page.text
    detail = await console.client.get(f"/console/jobs/runs/{run_id[1]}")
    assert detail.status_code == 200
    assert "succeeded" in detail.text
    assert "<td>read</td><td>done</td>" in detail.text
    missing = await console.client.get("/console/jobs/runs/nope")
    assert missing.status_code == 404


async def test_a_job_naming_an_unknown_connection_shows_its_error(
    console: Api, tmp_path: Path
) -> None:
    _jobs(console, tmp_path)
    names = tmp_path / "jobs" / "names.yaml"
    names.write_text(names.read_text().replace("connection: dynamics", "connection: nowhere"))
    await log_in(console.client, "operator")
    page = await console.client.get("/console/jobs")
    assert "steps.read.connection: no connection named &#39;nowhere&#39;" in page.text
    assert 'disabled title="The job file has problems"' in page.text


async def test_a_scheduled_job_shows_its_schedule_and_next_run(
    console: Api, tmp_path: Path
) -> None:
    _jobs(console, tmp_path)
    names = tmp_path / "jobs" / "names.yaml"
    names.write_text(
        names.read_text() + 'schedule: {cron: "0 3 1 1 *", timezone: America/New_York}\n'
    )
    await log_in(console.client, "viewer")
    page = await console.client.get("/console/jobs")
    assert "<code>0 3 1 1 *</code> (America/New_York)" in page.text
    # 03:00 on 1 January in New York (EST, UTC-5) is 08:00 UTC.
    assert re.search(r"next: <time datetime=\"\d{4}-01-01T08:00:00\+00:00\">", page.text)
    assert "<td>never</td>" in page.text


async def test_viewer_cannot_start_a_run(console: Api, tmp_path: Path) -> None:
    _jobs(console, tmp_path)
    headers = await log_in(console.client, "viewer")
    page = await console.client.get("/console/jobs")
    assert "Starting a run needs the operator role" in page.text
    refused = await console.client.post("/console/jobs/names/start", headers=headers)
    assert refused.status_code == 403


async def test_users_page_is_for_admins_only(console: Api) -> None:
    await log_in(console.client, "operator")
    workflows = await console.client.get("/console/workflows")
    assert "/console/users" not in workflows.text
    refused = await console.client.get("/console/users")
    assert refused.status_code == 403
    assert "needs the admin role" in refused.text


async def test_admin_adds_changes_and_removes_a_user(console: Api) -> None:
    headers = await log_in(console.client, "admin")
    page = await console.client.get("/console/users")
    assert 'data-user="viewer"' in page.text
    short = await console.client.post(
        "/console/users",
        data={"name": "nora", "role": "viewer", "password": "short"},
        headers=headers,
    )
    assert short.status_code == 422
    assert "password" in short.text
    assert console.users.get("nora") is None
    added = await console.client.post(
        "/console/users",
        data={"name": "nora", "role": "operator", "password": "long enough password"},
        headers=headers,
    )
    assert added.status_code == 200
    assert 'data-user="nora"' in added.text
    changed = await console.client.post(
        "/console/users/nora/role", data={"role": "admin"}, headers=headers
    )
    assert "is now admin" in changed.text
    nora = console.users.get("nora")
    assert nora is not None
    assert nora.role.value == "admin"
    yourself = await console.client.post("/console/users/admin/delete", headers=headers)
    assert yourself.status_code == 409
    removed = await console.client.post("/console/users/nora/delete", headers=headers)
    assert 'data-user="nora"' not in removed.text
    assert console.users.get("nora") is None
    assert csrf_of(page) == headers["X-CSRF-Token"]
