"""The supervisor with fake workflows: statuses, stop at any moment, pending revisions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.config import ConfigError
from crmsync.config.models import Config
from crmsync.errors import ConfigurationError
from crmsync.state.models import WorkflowStatus
from crmsync.workflows.supervisor import Supervisor, WorkflowSpec

Started = Callable[[], Awaitable[None]]


class FakeWorkflow:
    """Records the configurations it ran with; runs until stopped (or ignores the stop)."""

    def __init__(self, *, fail: str | None = None, stubborn: bool = False) -> None:
        self.configs: list[Config] = []
        self.fail = fail
        self.stubborn = stubborn
        self.running = asyncio.Event()
        self.stopped_cleanly = False

    async def run(self, config: Config, stop: asyncio.Event, started: Started) -> Mapping[str, int]:
        self.configs.append(config)
        await started()
        self.running.set()
        if self.fail:
            raise RuntimeError(self.fail)
        if self.stubborn:
            await asyncio.sleep(3600)
        await stop.wait()
        self.stopped_cleanly = True
        return {"written": 7}

    def spec(self, backlog: int = 3) -> WorkflowSpec:
        async def measure(_config: Config) -> int:
            return backlog

        return WorkflowSpec(run=self.run, backlog=measure)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


def yaml_text(tmp_path: Path, poll: float = 1.0) -> str:
    return (
        f"version: 1\nstore:\n  url: sqlite:///{tmp_path / 'store.db'}\n"
        f"inbound:\n  poll_interval_seconds: {poll}\n"
    )


def make(engine: sa.Engine, tmp_path: Path, **workflows: FakeWorkflow) -> Supervisor:
    return Supervisor(
        engine,
        yaml_text(tmp_path),
        {name: w.spec() for name, w in workflows.items()},
        stop_timeout=0.5,
    )


def slower(data: dict[str, Any]) -> dict[str, Any]:
    data["inbound"]["poll_interval_seconds"] = 5.0
    return data


async def test_start_runs_and_stop_stops_cleanly(engine: sa.Engine, tmp_path: Path) -> None:
    fake = FakeWorkflow()
    supervisor = make(engine, tmp_path, inbound=fake)
    assert (await supervisor.view("inbound")).status is WorkflowStatus.STOPPED
    await supervisor.start("inbound")
    await asyncio.wait_for(fake.running.wait(), 5)
    view = await supervisor.view("inbound")
    assert view.status is WorkflowStatus.RUNNING
    assert view.backlog == 3
    assert supervisor.state.statuses.all()["inbound"].status is WorkflowStatus.RUNNING

    result = await supervisor.stop("inbound")
    assert result.status is WorkflowStatus.STOPPED
    assert result.warning is None
    assert fake.stopped_cleanly
    assert (await supervisor.view("inbound")).counters == {"written": 7}


async def test_starting_twice_runs_once(engine: sa.Engine, tmp_path: Path) -> None:
    fake = FakeWorkflow()
    supervisor = make(engine, tmp_path, inbound=fake)
    await supervisor.start("inbound")
    await supervisor.start("inbound")
    await asyncio.wait_for(fake.running.wait(), 5)
    await supervisor.stop("inbound")
    assert len(fake.configs) == 1


async def test_a_failure_is_recorded_with_its_reason(engine: sa.Engine, tmp_path: Path) -> None:
    fake = FakeWorkflow(fail="the CRM refused the credentials")
    supervisor = make(engine, tmp_path, outbound=fake)
    await supervisor.start("outbound")
    for _ in range(100):
        view = await supervisor.view("outbound")
        if view.status is WorkflowStatus.FAILED:
            break
        await asyncio.sleep(0.02)
    assert view.status is WorkflowStatus.FAILED
    assert view.reason == "the CRM refused the credentials"
    assert view.last_error == "the CRM refused the credentials"
    assert (await supervisor.stop("outbound")).status is WorkflowStatus.FAILED


async def test_a_workflow_that_ignores_stop_is_cancelled(engine: sa.Engine, tmp_path: Path) -> None:
    fake = FakeWorkflow(stubborn=True)
    supervisor = make(engine, tmp_path, inbound=fake)
    await supervisor.start("inbound")
    await asyncio.wait_for(fake.running.wait(), 5)
    result = await supervisor.stop("inbound")
    assert result.status is WorkflowStatus.STOPPED
    assert not supervisor.is_running("inbound")


async def test_stop_when_not_running_is_harmless(engine: sa.Engine, tmp_path: Path) -> None:
    supervisor = make(engine, tmp_path, inbound=FakeWorkflow())
    assert (await supervisor.stop("inbound")).status is WorkflowStatus.STOPPED


async def test_edit_is_pending_until_restart(engine: sa.Engine, tmp_path: Path) -> None:
    fake = FakeWorkflow()
    supervisor = make(engine, tmp_path, inbound=fake)
    await supervisor.start("inbound")
    await asyncio.wait_for(fake.running.wait(), 5)
    first = supervisor.revision("inbound")
    assert first.author == "file"

    revision = supervisor.edit("inbound", slower, author="alice", note="poll every 5 s")
    assert revision.state == "pending"
    assert supervisor.config("inbound").inbound.poll_interval_seconds == 1.0
    assert supervisor.config("inbound", latest=True).inbound.poll_interval_seconds == 5.0
    view = await supervisor.view("inbound", measure=False)
    assert (view.active_revision, view.pending_revision) == (first.id, revision.id)

    result = await supervisor.stop("inbound")
    assert result.warning is not None
    assert "pending edits" in result.warning
    assert "alice" in result.warning

    fake.running.clear()
    await supervisor.start("inbound")
    await asyncio.wait_for(fake.running.wait(), 5)
    assert [c.inbound.poll_interval_seconds for c in fake.configs] == [1.0, 5.0]
    assert supervisor.revision("inbound").id == revision.id
    assert supervisor.revisions.pending("inbound") is None
    assert (await supervisor.stop("inbound")).warning is None
    states = [(r.id, r.state) for r in supervisor.revisions.history("inbound")]
    assert states == [(revision.id, "active"), (first.id, "superseded")]


async def test_a_second_edit_supersedes_the_pending_one(engine: sa.Engine, tmp_path: Path) -> None:
    supervisor = make(engine, tmp_path, inbound=FakeWorkflow())
    one = supervisor.edit("inbound", slower, author="alice", note="one")
    two = supervisor.edit("inbound", lambda d: d | {"version": 1}, author="bob", note="two")
    assert supervisor.revisions.pending("inbound") == two
    assert supervisor.config("inbound", latest=True).inbound.poll_interval_seconds == 5.0
    assert supervisor.revisions.get(one.id).state == "superseded"  # type: ignore[union-attr]


async def test_an_invalid_edit_is_refused_and_not_saved(engine: sa.Engine, tmp_path: Path) -> None:
    supervisor = make(engine, tmp_path, inbound=FakeWorkflow())

    def broken(data: dict[str, Any]) -> dict[str, Any]:
        data["inbound"]["poll_interval_seconds"] = -1
        return data

    with pytest.raises(ConfigError) as caught:
        supervisor.edit("inbound", broken, author="alice", note="broken")
    assert "poll_interval_seconds" in str(caught.value)
    assert supervisor.revisions.pending("inbound") is None
    assert len(supervisor.revisions.history()) == 1


async def test_edits_of_one_workflow_leave_the_others_alone(
    engine: sa.Engine, tmp_path: Path
) -> None:
    supervisor = make(engine, tmp_path, inbound=FakeWorkflow(), outbound=FakeWorkflow())
    supervisor.edit("inbound", slower, author="alice", note="slower")
    assert supervisor.revisions.pending("outbound") is None
    assert supervisor.config("outbound", latest=True).inbound.poll_interval_seconds == 1.0


async def test_unknown_and_unconfigured_workflows_are_refused(
    engine: sa.Engine, tmp_path: Path
) -> None:
    async def zero(_config: Config) -> int:
        return 0

    fake = FakeWorkflow()
    spec = WorkflowSpec(run=fake.run, backlog=zero, not_configured=lambda _c: "it has no mapping")
    supervisor = Supervisor(engine, yaml_text(tmp_path), {"inbound": spec})
    with pytest.raises(ConfigurationError, match="no workflow 'nope'"):
        await supervisor.start("nope")
    with pytest.raises(ConfigurationError, match="it has no mapping"):
        await supervisor.start("inbound")
    assert (await supervisor.view("inbound")).status is WorkflowStatus.STOPPED
    assert fake.configs == []


async def test_a_status_left_running_by_a_dead_process_is_reset(
    engine: sa.Engine, tmp_path: Path
) -> None:
    first = make(engine, tmp_path, inbound=FakeWorkflow())
    first.state.statuses.set("inbound", WorkflowStatus.RUNNING)
    again = make(engine, tmp_path, inbound=FakeWorkflow())
    view = await again.view("inbound")
    assert view.status is WorkflowStatus.STOPPED
    assert view.reason == "the previous process ended"
    # The file is the first revision only once.
    assert len(again.revisions.history("inbound")) == 1


async def test_close_stops_everything(engine: sa.Engine, tmp_path: Path) -> None:
    a, b = FakeWorkflow(), FakeWorkflow()
    supervisor = make(engine, tmp_path, inbound=a, outbound=b)
    await supervisor.start("inbound")
    await supervisor.start("outbound")
    await asyncio.wait_for(asyncio.gather(a.running.wait(), b.running.wait()), 5)
    await supervisor.close()
    assert a.stopped_cleanly
    assert b.stopped_cleanly
    assert {v.status for v in await supervisor.views()} == {WorkflowStatus.STOPPED}


async def test_revisions_keep_relative_paths_and_resolve_them_against_the_files_folder(
    engine: sa.Engine, tmp_path: Path
) -> None:
    text = yaml_text(tmp_path) + "queue:\n  path: queue.db\n"
    folder = tmp_path / "conf"
    supervisor = Supervisor(engine, text, {"inbound": FakeWorkflow().spec()}, base=folder)
    assert supervisor.revision("inbound").yaml == text
    assert supervisor.config("inbound").queue.path == folder / "queue.db"
    edited = supervisor.edit("inbound", slower, author="alice", note="slower").yaml
    assert "path: queue.db" in edited
    assert supervisor.config("inbound", latest=True).queue.path == folder / "queue.db"
    assert supervisor.check("inbound", edited).queue.path == folder / "queue.db"
