"""The three workflows started at the same moment on a fresh SQLite store: each one creates its
tables while the others create theirs and start writing, and none fails for it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from inbound_support import ENV, NAMES_MAPPING, Crm, config_text, running_crm

from crmsync.api.users import UserStore
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.state.models import WorkflowStatus
from crmsync.store import create_engine_for
from crmsync.sync.engine import EngineOptions
from crmsync.workflows import WORKFLOW_NAMES, Supervisor, standard_specs

OTHERS = """
outbound:
  connection: dynamics
  events: {send: true, open: true, click: true, bounce: true}
  poll_interval_seconds: 0.1
optinout:
  direction: bidirectional
  connection: dynamics
  poll_interval_seconds: 0.1
  mappings:
    - {crm: donotbulkemail, campaign: optout_email}
"""


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(tls, contacts=200) as running:
        yield running


async def start_all(crm: Crm, folder: Path) -> dict[str, tuple[WorkflowStatus, str | None]]:
    text = config_text(crm.url, crm.tls.ca, folder, NAMES_MAPPING) + OTHERS
    engine = create_engine_for(f"sqlite:///{folder / 'store.db'}")
    specs = standard_specs(ENV, EngineOptions(poll_interval_seconds=0.1))
    supervisor = Supervisor(engine, text, specs, environ=ENV, stop_timeout=10)
    try:
        # As `crmsync serve --start inbound --start outbound --start optinout` does.
        await asyncio.gather(*(supervisor.start(name) for name in WORKFLOW_NAMES))
        await asyncio.to_thread(UserStore, engine)
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            views = {v.name: v for v in await supervisor.views(measure=False)}
            settled = all(
                v.status in (WorkflowStatus.RUNNING, WorkflowStatus.FAILED) for v in views.values()
            )
            if settled or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
        # A little longer running side by side: the inbound load writes while the others poll.
        await asyncio.sleep(0.5)
        views = {v.name: v for v in await supervisor.views(measure=False)}
        return {name: (v.status, v.reason) for name, v in views.items()}
    finally:
        await supervisor.close()
        engine.dispose()


@pytest.mark.parametrize("attempt", range(6))
async def test_all_three_start_at_once_on_a_fresh_store(
    crm: Crm, tmp_path: Path, attempt: int
) -> None:
    statuses = await start_all(crm, tmp_path)
    assert statuses == dict.fromkeys(WORKFLOW_NAMES, (WorkflowStatus.RUNNING, None))


@pytest.mark.parametrize("attempt", range(4))
def test_run_once_with_every_workflow_on_a_fresh_store(
    crm: Crm, tmp_path: Path, attempt: int
) -> None:
    config = tmp_path / "crmsync.yaml"
    config.write_text(config_text(crm.url, crm.tls.ca, tmp_path, NAMES_MAPPING) + OTHERS)
    done = subprocess.run(
        [sys.executable, "-m", "crmsync", "run", "--config", str(config), "--once"],
        env=os.environ | ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "locked" not in done.stderr
