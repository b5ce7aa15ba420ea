"""Crash safety: ``crmsync run`` killed with SIGKILL at random points, during an initial load and
during steady-state changes, then restarted with ``--once``, leaves the Campaign store identical
to the CRM: the same keys, the same values, no duplicates. Killed is the engine process alone (its
writer process stops by itself) or the engine with its writer process."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from crash_support import assert_identical, kill, run_once, seeded_random, start, write_config
from inbound_support import (
    Crm,
    running_crm,
)

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(tls, contacts=6000, accounts=20, page_size=500) as running:
        yield running


async def _kill_after(config: Path, seconds: float, group: bool) -> None:
    process = start(config)
    await asyncio.sleep(seconds)
    kill(process, group)


async def _crm_changes(crm: Crm, rng: random.Random, ids: list[str], round_no: int) -> None:
    ops: list[WriteOp] = []
    for record_id in rng.sample(ids, 40):
        ops.append(
            WriteOp(
                "update",
                "contact",
                {"address1_city": f"City {round_no}-{rng.random():.6f}"},
                id=record_id,
            )
        )
    for record_id in rng.sample([i for i in ids if i not in {o.id for o in ops}], 10):
        ops.append(WriteOp("delete", "contact", id=record_id))
        ids.remove(record_id)
    for n in range(10):
        ops.append(
            WriteOp("create", "contact", {"firstname": f"New{round_no}", "lastname": f"N{n}"})
        )
    await crm.write(*ops)


@pytest.mark.parametrize("group", [False, True], ids=["engine", "engine-and-writer"])
async def test_killed_at_random_points_ends_identical(
    crm: Crm, tmp_path: Path, group: bool
) -> None:
    rng = seeded_random()
    config = write_config(crm, tmp_path)
    store_url = f"sqlite:///{tmp_path / 'store.db'}"

    for _ in range(3):  # during the initial load
        await _kill_after(config, rng.uniform(1.0, 3.0), group)
    ids = sorted(await crm.rows("contact", ("firstname",)))
    for round_no in range(3):  # during steady-state changes
        process = start(config)
        await asyncio.sleep(rng.uniform(1.0, 2.0))
        await _crm_changes(crm, rng, ids, round_no)
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        kill(process, group)
    run_once(config)
    await assert_identical(crm, store_url)
