"""Crash safety: ``crmsync run`` killed with SIGKILL at random points, during an initial load and
during steady-state changes, then restarted with ``--once``, leaves the Campaign store identical
to the CRM: the same keys, the same values, no duplicates. Killed is the engine process alone (its
writer process stops by itself) or the engine with its writer process."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from inbound_support import (
    CONTACTS_MAPPING,
    ENV,
    SUBSCRIPTION_RESOURCE,
    SUBSCRIPTIONS_MAPPING,
    Crm,
    config_text,
    running_crm,
)

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.store import create_engine_for

CONTACT_FIELDS = ("firstname", "lastname", "emailaddress1", "address1_city")
COLUMNS = {"firstname": "first_name", "lastname": "last_name", "emailaddress1": "email"}
COLUMNS["address1_city"] = "city"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(tls, contacts=6000, accounts=20, page_size=500) as running:
        yield running


def _command(config: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "crmsync",
        "run",
        "--config",
        str(config),
        "--no-progress",
        "--ack-wait",
        "1",
        "--poll-interval",
        "0.1",
        *extra,
    ]


def _environment() -> dict[str, str]:
    return {**os.environ, **ENV}


def _start(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        _command(config),
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the engine and its writer process
    )


def _kill(process: subprocess.Popen[bytes], group: bool) -> None:
    if group:
        os.killpg(process.pid, signal.SIGKILL)
    else:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


async def _kill_after(config: Path, seconds: float, group: bool) -> None:
    process = _start(config)
    await asyncio.sleep(seconds)
    _kill(process, group)


def _run_once(config: Path) -> None:
    done = subprocess.run(
        _command(config, "--once"),
        env=_environment(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


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


def _store(url: str, table: str, key: str) -> tuple[int, dict[str, dict[str, object]]]:
    engine = create_engine_for(url)
    try:
        t = sa.Table(table, sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            rows = list(conn.execute(sa.select(t)).mappings())
        return len(rows), {row[key]: dict(row) for row in rows}
    finally:
        engine.dispose()


async def _assert_identical(crm: Crm, store_url: str) -> None:
    contacts = await crm.rows("contact", CONTACT_FIELDS)
    count, profiles = _store(store_url, "profile", "external_id")
    assert count == len(profiles), "duplicate profiles"
    assert set(profiles) == set(contacts)
    for key, values in contacts.items():
        for crm_field, column in COLUMNS.items():
            assert profiles[key][column] == values[crm_field], (key, column)
    subscriptions = await crm.rows("crmsync_subscription", ("crmsync_contactid", "crmsync_name"))
    count, stored = _store(store_url, "subscription", "crm_id")
    assert count == len(stored), "duplicate subscriptions"
    # A subscription whose contact was deleted went with it (cascade): the CRM keeps it.
    expected = {k for k, v in subscriptions.items() if v["_crmsync_contactid_value"] in contacts}
    assert set(stored) == expected
    for key in expected:
        assert stored[key]["name"] == subscriptions[key]["crmsync_name"]


@pytest.mark.parametrize("group", [False, True], ids=["engine", "engine-and-writer"])
async def test_killed_at_random_points_ends_identical(
    crm: Crm, tmp_path: Path, group: bool
) -> None:
    seed = int(time.time())
    rng = random.Random(seed)
    print(f"crash test seed {seed}")
    config = tmp_path / "crmsync.yaml"
    config.write_text(
        config_text(
            crm.url,
            crm.tls.ca,
            tmp_path,
            CONTACTS_MAPPING + SUBSCRIPTIONS_MAPPING,
            SUBSCRIPTION_RESOURCE,
        ),
        encoding="utf-8",
    )
    store_url = f"sqlite:///{tmp_path / 'store.db'}"

    for _ in range(3):  # during the initial load
        await _kill_after(config, rng.uniform(1.0, 3.0), group)
    ids = sorted(await crm.rows("contact", ("firstname",)))
    for round_no in range(3):  # during steady-state changes
        process = _start(config)
        await asyncio.sleep(rng.uniform(1.0, 2.0))
        await _crm_changes(crm, rng, ids, round_no)
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        _kill(process, group)
    _run_once(config)
    await _assert_identical(crm, store_url)
