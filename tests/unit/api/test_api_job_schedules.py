"""Scheduled jobs in the job service: a slot waits while another server holds the job's lease,
slots missed while stopped make one catch-up run, and the list shows next run and last result."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from api_support import Api

from crmsync.api.services.jobs import JobService
from crmsync.api.users import Role
from crmsync.config.models import Config
from crmsync.jobs import ConnectorPool
from crmsync.runtime.workers import Worker, job_lease
from crmsync.state.workers import WorkerRole

NIGHTLY = """version: 1
name: nightly
timezone: Europe/Paris
schedule: {cron: "0 3 * * *"}
steps:
  pause: {kind: wait, seconds: 0}
"""


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 6, 1, 10, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


def _pool(config: Config) -> ConnectorPool:
    return ConnectorPool(config, connectors={})


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "nightly.yaml").write_text(NIGHTLY)
    (jobs / "once.yaml").write_text("name: once\nsteps:\n  pause: {kind: wait, seconds: 0}\n")
    return jobs


@pytest.fixture
def workers(api: Api) -> Iterator[tuple[Worker, Worker]]:
    """Two servers' workers on the API's store."""
    with (
        Worker(api.supervisor.engine, WorkerRole.SERVE) as one,
        Worker(api.supervisor.engine, WorkerRole.SERVE) as other,
    ):
        yield one, other


def _service(api: Api, folder: Path, worker: Worker, clock: Clock) -> JobService:
    return JobService(api.supervisor, folder, connectors=_pool, worker=worker, now=clock)


async def test_a_slot_waits_for_the_run_another_server_holds(
    api: Api, folder: Path, workers: tuple[Worker, Worker]
) -> None:
    clock = Clock()
    other, here = workers
    service = _service(api, folder, here, clock)
    # First seen on 1 June at noon in Paris: nothing was missed, nothing runs.
    assert service.tick() == []
    listed = {job.name: job for job in service.list()}
    assert listed["nightly"].next_run == datetime(2026, 6, 2, 1, tzinfo=UTC)  # 03:00 CEST
    assert listed["nightly"].schedule is not None
    assert listed["nightly"].schedule.timezone == "Europe/Paris"
    assert (listed["once"].schedule, listed["once"].next_run) == (None, None)

    # Its time comes while another server runs the job: the slot waits, nothing starts.
    clock.at = datetime(2026, 6, 2, 1, 0, 30, tzinfo=UTC)
    assert other.take(job_lease("nightly"))
    assert service.tick() == []
    assert service.store.runs(job="nightly") == []
    waiting = next(job for job in service.list() if job.name == "nightly")
    assert waiting.next_run == datetime(2026, 6, 2, 1, tzinfo=UTC)  # passed: due now
    # That run ends: the slot runs now, once.
    other.release(job_lease("nightly"))
    (run_id,) = service.tick()
    await service.wait()
    assert service.tick() == []
    assert not here.holds(job_lease("nightly"))  # given back when the run ended
    done = next(job for job in service.list() if job.name == "nightly")
    assert done.last_run is not None
    assert (done.last_run.id, done.last_run.status) == (run_id, "succeeded")
    assert [run.id for run in done.history] == [run_id]
    assert done.next_run == datetime(2026, 6, 3, 1, tzinfo=UTC)


async def test_slots_missed_while_stopped_make_one_run(
    api: Api, folder: Path, workers: tuple[Worker, Worker]
) -> None:
    clock = Clock()
    service = _service(api, folder, workers[0], clock)
    service.tick()
    # No server for four days: four slots passed; one catch-up run, then the schedule.
    clock.at = datetime(2026, 6, 5, 9, tzinfo=UTC)
    assert len(service.tick()) == 1
    await service.wait()
    clock.at = datetime(2026, 6, 5, 23, tzinfo=UTC)
    assert service.tick() == []
    state = service.store.schedule_state("nightly")
    assert state is not None
    assert state.last_slot == datetime(2026, 6, 5, 1, tzinfo=UTC)
    assert [run.status for run in service.store.runs(job="nightly")] == ["succeeded"]
    assert service.store.runs(job="once") == []  # no schedule: run only when asked


async def test_a_server_refuses_to_start_a_job_another_server_runs(
    api: Api, folder: Path, workers: tuple[Worker, Worker]
) -> None:
    other, here = workers
    api.app.state.job_service.worker = here
    assert other.take(job_lease("once"))
    refused = await api.client.post("/api/jobs/once/runs", headers=api.auth(Role.OPERATOR))
    assert refused.status_code == 409
    assert "another crmsync server" in refused.json()["detail"]
