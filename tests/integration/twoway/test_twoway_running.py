"""Two-way while ``inbound`` runs (not once): a Campaign edit reaches the CRM and a CRM edit
reaches Campaign within seconds, with the writer in the engine's process or in a writer process
of its own (either CRM, SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from twoway_support import ENV, Crm, edit, make_config, profiles, run_once, running_crm

from crmsync.emulators.common.tls import TlsFiles
from crmsync.sync.engine import EngineOptions, InboundEngine

#: Generous for a loaded test machine; bench/ measures the real latency.
DEADLINE_SECONDS = 20.0


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(request.param, tls, contacts=5) as running:
        yield running


async def _until(check: Callable[[], Awaitable[bool]]) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > DEADLINE_SECONDS:
            raise AssertionError(f"not seen within {DEADLINE_SECONDS} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


@pytest.mark.parametrize("writer_processes", [0, 1])
async def test_edits_cross_both_ways_while_inbound_runs(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None], writer_processes: int
) -> None:
    config = make_config(crm, tmp_path, store_location)
    await run_once(config)
    _, last, city = crm.fields
    campaign_side, crm_side = sorted(await crm.records())[:2]
    options = EngineOptions(writer_processes=writer_processes, poll_interval_seconds=0.2)
    stop = asyncio.Event()
    async with InboundEngine(config, environ=ENV, options=options) as engine:
        running = asyncio.create_task(engine.run(stop=stop))
        try:
            edit(config, campaign_side, city="Brugge")

            async def in_crm() -> bool:
                return (await crm.records())[campaign_side][city] == "Brugge"

            await _until(in_crm)
            await crm.update(crm_side, **{last: "Janssens"})

            async def in_campaign() -> bool:
                return profiles(config)[crm_side]["last_name"] == "Janssens"

            await _until(in_campaign)
        finally:
            stop.set()
            await running
    assert profiles(config)[campaign_side]["city"] == "Brugge"
    assert (await crm.records())[crm_side][last] == "Janssens"
