"""The supervisor running the real inbound engine against the Dataverse emulator over HTTPS:
start, the initial load drains the backlog, stop, and a pending edit activated by the restart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from inbound_support import ENV, NAMES_MAPPING, Crm, config_text, running_crm, store_rows

from crmsync.config import load_config_text
from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.state.models import WorkflowStatus
from crmsync.sync.engine import EngineOptions
from crmsync.workflows import Supervisor, standard_specs


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(tls, contacts=40) as running:
        yield running


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


def with_replacement(data: dict[str, Any]) -> dict[str, Any]:
    replacement = {"field": "lastname", "from": "Oslo", "to": "OSLO"}
    data["inbound"]["mappings"][0]["replacements"] = [replacement]
    return data


async def test_start_drain_stop_and_restart_on_the_pending_revision(
    crm: Crm, tmp_path: Path
) -> None:
    text = config_text(crm.url, crm.tls.ca, tmp_path, NAMES_MAPPING)
    config = load_config_text(text, environ=ENV)
    engine = sa.create_engine(config.store.url)
    specs = standard_specs(ENV, EngineOptions(poll_interval_seconds=0.2))
    supervisor = Supervisor(engine, text, specs, environ=ENV, stop_timeout=10)
    try:
        await supervisor.start("inbound")

        async def loaded() -> bool:
            view = await supervisor.view("inbound")
            if view.status is not WorkflowStatus.RUNNING:  # the resource tables not yet published
                return False
            rows = store_rows(config, "profile", "external_id")
            return len(rows) == 40 and view.backlog == 0

        await eventually(loaded)
        assert (await supervisor.view("inbound")).counters["inserted"] == 40

        revision = supervisor.edit(
            "inbound", with_replacement, author="alice", note="a replacement"
        )
        first, second = sorted(store_rows(config, "profile", "external_id"))[:2]
        await crm.write(WriteOp("update", "contact", {"lastname": "Oslo"}, id=first))

        async def first_updated() -> bool:
            counters = (await supervisor.view("inbound")).counters
            return counters.get("updated", 0) >= 1

        await eventually(first_updated)
        # The running workflow keeps its active revision: no replacement yet.
        assert store_rows(config, "profile", "external_id")[first]["last_name"] == "Oslo"

        stopped = await supervisor.stop("inbound")
        assert stopped.status is WorkflowStatus.STOPPED
        assert stopped.warning is not None
        assert f"revision {revision.id}" in stopped.warning

        await supervisor.start("inbound")
        assert supervisor.revision("inbound").id == revision.id
        await crm.write(WriteOp("update", "contact", {"lastname": "Oslo"}, id=second))

        async def second_has_city() -> bool:
            return store_rows(config, "profile", "external_id")[second]["last_name"] == "OSLO"

        await eventually(second_has_city)
        assert (await supervisor.view("inbound")).status is WorkflowStatus.RUNNING
    finally:
        await supervisor.close()
        engine.dispose()
    assert supervisor.state.statuses.all()["inbound"].status is WorkflowStatus.STOPPED
