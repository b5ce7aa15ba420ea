"""Shared set-up of the crash tests: ``crmsync run`` as a subprocess in a process group of its own
(the engine and its writer processes), killed with SIGKILL, run again with ``--once``, and the
comparison of the Campaign store with the CRM."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from inbound_support import (
    CONTACTS_MAPPING,
    ENV,
    SUBSCRIPTION_RESOURCE,
    SUBSCRIPTIONS_MAPPING,
    Crm,
    config_text,
)

from crmsync.store import create_engine_for

CONTACT_FIELDS = ("firstname", "lastname", "emailaddress1", "address1_city")
COLUMNS = {"firstname": "first_name", "lastname": "last_name", "emailaddress1": "email"}
COLUMNS["address1_city"] = "city"


def seeded_random() -> random.Random:
    """A random generator seeded from the clock; the seed is printed, to replay a failure."""
    seed = int(time.time())
    print(f"crash test seed {seed}")
    return random.Random(seed)


def write_config(
    crm: Crm, folder: Path, *, store_url: str | None = None, pg_schema: str | None = None
) -> Path:
    """``crmsync.yaml`` in ``folder``: contacts and their subscriptions from ``crm`` into the
    store at ``store_url`` (default: ``store.db`` in ``folder``)."""
    config = folder / "crmsync.yaml"
    config.write_text(
        config_text(
            crm.url,
            crm.tls.ca,
            folder,
            CONTACTS_MAPPING + SUBSCRIPTIONS_MAPPING,
            SUBSCRIPTION_RESOURCE,
            store_url=store_url,
            pg_schema=pg_schema,
        ),
        encoding="utf-8",
    )
    return config


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


def start(config: Path, *extra: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """``crmsync run`` (``extra``: more options) in a process group of its own (``log``: where
    its standard error goes)."""
    with contextlib.ExitStack() as files:
        errors = files.enter_context(log.open("ab")) if log is not None else subprocess.DEVNULL
        return subprocess.Popen(
            _command(config, *extra),
            env=_environment(),
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,  # its own process group: the engine and its writer processes
        )


def kill(process: subprocess.Popen[bytes], group: bool) -> None:
    """SIGKILL the engine (``group``: with its writer processes)."""
    if group:
        os.killpg(process.pid, signal.SIGKILL)
    else:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def run_once(config: Path, *extra: str) -> None:
    done = subprocess.run(
        _command(config, "--once", *extra),
        env=_environment(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


def _store(
    url: str, table: str, key: str, schema: str | None
) -> tuple[int, dict[str, dict[str, object]]]:
    engine = create_engine_for(url, schema=schema)
    try:
        t = sa.Table(table, sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            rows = list(conn.execute(sa.select(t)).mappings())
        return len(rows), {row[key]: dict(row) for row in rows}
    finally:
        engine.dispose()


async def assert_identical(crm: Crm, store_url: str, schema: str | None = None) -> None:
    """The store holds exactly the CRM's contacts and subscriptions, with their values, once."""
    contacts = await crm.rows("contact", CONTACT_FIELDS)
    count, profiles = _store(store_url, "profile", "external_id", schema)
    assert count == len(profiles), "duplicate profiles"
    assert set(profiles) - set(contacts) == set(), "profiles the CRM no longer has"
    assert set(contacts) - set(profiles) == set(), "contacts missing from the store"
    for key, values in contacts.items():
        for crm_field, column in COLUMNS.items():
            assert profiles[key][column] == values[crm_field], (key, column)
    subscriptions = await crm.rows("crmsync_subscription", ("crmsync_contactid", "crmsync_name"))
    count, stored = _store(store_url, "subscription", "crm_id", schema)
    assert count == len(stored), "duplicate subscriptions"
    # A subscription whose contact was deleted went with it (cascade): the CRM keeps it.
    expected = {k for k, v in subscriptions.items() if v["_crmsync_contactid_value"] in contacts}
    assert set(stored) == expected
    for key in expected:
        assert stored[key]["name"] == subscriptions[key]["crmsync_name"]
