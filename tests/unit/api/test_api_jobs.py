"""``/api/jobs`` and ``/api/runs``: job files of the folder, runs in the background, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_support import Api

from crmsync.api.services.jobs import JobService
from crmsync.api.users import Role

JOB = """version: 1
name: contacts
description: Contacts to a file
variables: {{country: France}}
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
    path: {folder}/out-{{run_id}}.jsonl
"""


def _service(api: Api) -> JobService:
    service: JobService = api.app.state.job_service
    return service


@pytest.fixture
def jobs(api: Api, tmp_path: Path) -> Path:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "contacts.yaml").write_text(JOB.format(folder=tmp_path))
    (folder / "broken.yml").write_text("version: 1\nname: broken\nsteps: {}\n")
    (folder / "notes.txt").write_text("not a job")
    return folder


async def test_jobs_are_the_files_of_the_folder(api: Api, jobs: Path) -> None:
    listed = (await api.client.get("/api/jobs", headers=api.auth(Role.VIEWER))).json()
    assert [(j["name"], j["file"], j["valid"]) for j in listed] == [
        ("broken", "broken.yml", False),
        ("contacts", "contacts.yaml", True),
    ]
    assert "steps" in listed[0]["issues"][0]
    assert listed[1]["steps"] == ["read", "save"]
    assert listed[1]["description"] == "Contacts to a file"
    assert listed[1]["running"] is None


async def test_a_job_naming_an_unknown_connection_is_listed_invalid_and_not_started(
    api: Api, jobs: Path, tmp_path: Path
) -> None:
    text = JOB.format(folder=tmp_path).replace("connection: dynamics", "connection: dynamcis")
    (jobs / "contacts.yaml").write_text(text)
    listed = (await api.client.get("/api/jobs", headers=api.auth(Role.VIEWER))).json()
    contacts = next(j for j in listed if j["file"] == "contacts.yaml")
    assert contacts["valid"] is False
    assert contacts["issues"] == [
        "contacts.yaml:9: steps.read.connection: no connection named 'dynamcis' in the "
        "configuration (did you mean 'dynamics'?)"
    ]
    refused = await api.client.post("/api/jobs/contacts/runs", headers=api.auth(Role.OPERATOR))
    assert refused.status_code == 404
    assert (await api.client.get("/api/runs", headers=api.auth(Role.VIEWER))).json() == []


async def test_a_run_is_started_in_the_background_and_recorded(
    api: Api, jobs: Path, tmp_path: Path
) -> None:
    started = await api.client.post(
        "/api/jobs/contacts/runs",
        json={"variables": {"country": "Norway"}},
        headers=api.auth(Role.OPERATOR),
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    assert started.json() == {"run_id": run_id, "job": "contacts", "resumed": False}
    await _service(api).wait()

    run = (await api.client.get(f"/api/runs/{run_id}", headers=api.auth(Role.VIEWER))).json()
    assert run["status"] == "succeeded"
    assert run["active"] is False
    assert [(s["step"], s["status"]) for s in run["steps"]] == [("read", "done"), ("save", "done")]
    assert run["steps"][0]["counts"]["read"] == 2
    assert run["variables"]["country"] == "Norway"
    assert run["rejects"] == 0
    lines = (tmp_path / f"out-{run_id}.jsonl").read_text().splitlines()
    assert [json.loads(line)["lastname"] for line in lines] == ["Curie", "Noether"]
    runs = (await api.client.get("/api/runs", headers=api.auth(Role.VIEWER))).json()
    assert [r["id"] for r in runs] == [run_id]
    rejects = await api.client.get(f"/api/runs/{run_id}/rejects", headers=api.auth(Role.VIEWER))
    assert rejects.json() == []


async def test_a_failed_run_is_resumed(api: Api, jobs: Path) -> None:
    operator = api.auth(Role.OPERATOR)
    api.crm.down = True
    run_id = (await api.client.post("/api/jobs/contacts/runs", headers=operator)).json()["run_id"]
    await _service(api).wait()
    failed = (await api.client.get(f"/api/runs/{run_id}", headers=operator)).json()
    assert failed["status"] == "failed"
    assert "503" in failed["error"]
    assert any(line["level"] == "error" for line in failed["log"])

    api.crm.down = False
    resumed = await api.client.post(f"/api/runs/{run_id}/resume", headers=operator)
    assert resumed.status_code == 202
    assert resumed.json()["resumed"] is True
    await _service(api).wait()
    done = (await api.client.get(f"/api/runs/{run_id}", headers=operator)).json()
    assert done["status"] == "succeeded"
    again = await api.client.post(f"/api/runs/{run_id}/resume", headers=operator)
    assert again.status_code == 409
    assert "succeeded" in again.json()["detail"]


async def test_starting_a_job_whose_last_run_failed_resumes_it_unless_new(
    api: Api, jobs: Path
) -> None:
    operator = api.auth(Role.OPERATOR)
    api.crm.down = True
    first = (await api.client.post("/api/jobs/contacts/runs", headers=operator)).json()
    await _service(api).wait()
    api.crm.down = False
    second = (await api.client.post("/api/jobs/contacts/runs", headers=operator)).json()
    assert second == first | {"resumed": True}
    await _service(api).wait()
    fresh = await api.client.post("/api/jobs/contacts/runs", json={"new": True}, headers=operator)
    assert fresh.json()["run_id"] != first["run_id"]
    await _service(api).wait()


async def test_a_job_runs_once_at_a_time_and_a_stop_leaves_it_resumable(
    api: Api, jobs: Path
) -> None:
    slow = "version: 1\nname: slow\nsteps:\n  pause: {kind: wait, seconds: 30}\n"
    (jobs / "slow.yaml").write_text(slow)
    operator = api.auth(Role.OPERATOR)
    first = await api.client.post("/api/jobs/slow/runs", headers=operator)
    run_id = first.json()["run_id"]
    second = await api.client.post("/api/jobs/slow/runs", headers=operator)
    assert second.status_code == 409
    assert run_id in second.json()["detail"]
    resumed = await api.client.post(f"/api/runs/{run_id}/resume", headers=operator)
    assert resumed.status_code == 409
    listed = (await api.client.get("/api/jobs", headers=operator)).json()
    assert [j["running"] for j in listed if j["name"] == "slow"] == [run_id]
    assert (await api.client.get(f"/api/runs/{run_id}", headers=operator)).json()["active"]

    await _service(api).close()
    run = (await api.client.get(f"/api/runs/{run_id}", headers=operator)).json()
    assert (run["status"], run["active"]) == ("running", False)
    assert len(_service(api).store.runs()) == 1


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/jobs/nope/runs", None, 404),
        ("/api/jobs/broken/runs", None, 404),
        ("/api/jobs/contacts/runs", {"variables": {"bad name": "x"}}, 422),
        ("/api/jobs/contacts/runs", {"later": True}, 422),
        ("/api/runs/nope/resume", None, 404),
    ],
)
async def test_refused_starts_create_no_run(
    api: Api, jobs: Path, path: str, body: object, status: int
) -> None:
    response = await api.client.post(path, json=body, headers=api.auth(Role.OPERATOR))
    assert response.status_code == status
    assert _service(api).store.runs() == []


async def test_viewers_cannot_start_or_resume(api: Api, jobs: Path) -> None:
    viewer = api.auth(Role.VIEWER)
    assert (await api.client.post("/api/jobs/contacts/runs", headers=viewer)).status_code == 403
    assert (await api.client.post("/api/runs/x/resume", headers=viewer)).status_code == 403
    assert (await api.client.get("/api/jobs")).status_code == 401
    assert (await api.client.get("/api/runs")).status_code == 401
    assert (await api.client.get("/api/runs/x", headers=viewer)).status_code == 404
    assert (await api.client.get("/api/runs/x/rejects", headers=viewer)).status_code == 404
    assert _service(api).store.runs() == []


async def test_no_jobs_folder_means_no_jobs(api: Api) -> None:
    assert (await api.client.get("/api/jobs", headers=api.auth(Role.VIEWER))).json() == []
