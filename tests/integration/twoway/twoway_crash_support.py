"""Shared set-up of the two-way crash tests: ``crmsync run`` as a subprocess in a process group of
its own, killed with SIGKILL; two-way traffic with a known intended end state (Campaign edits made
with SQL, CRM edits made through the connector); and a count of the updates each CRM record took,
kept by a trigger in the emulator's own database."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from twoway_support import ENV, Crm

from crmsync.connectors.base import Connector, WriteOp
from crmsync.store import create_engine_for
from crmsync.store.engine import write_transaction

#: The Campaign columns of the merged fields, in the order of :attr:`Crm.fields`.
COLUMNS = ("first_name", "last_name", "city")

#: Per CRM: the emulator's contact table, its id column and a column every update sets.
_EMULATOR_TABLES = {
    "dataverse": ("contact", "contactid", "versionnumber"),
    "salesforce": ("Contact", "Id", "LastModifiedDate"),
}

#: PostgreSQL's error code of a deadlock, and the times a Campaign transaction is tried.
_DEADLOCK, _DEADLOCK_ATTEMPTS = "40P01", 5

#: Which side edits which columns of a record, by kind of record. ``split``: each side its own
#: column; ``both``: the two sides edit the same column (only their agreement is known).
PLANS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "campaign": (("first_name", "city"), ()),
    "crm": ((), ("last_name", "city")),
    "split": (("city",), ("last_name",)),
    "both": (("city",), ("city",)),
    "none": ((), ()),
}


def seeded_random() -> random.Random:
    """A random generator seeded from ``CRMSYNC_CRASH_SEED``, or else from the clock; the seed is
    printed, to replay a failure."""
    seed = int(os.environ.get("CRMSYNC_CRASH_SEED") or time.time())
    print(f"two-way crash test seed {seed}")
    return random.Random(seed)


# -- crmsync run as a subprocess ------------------------------------------------------------------


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


def start(config: Path) -> subprocess.Popen[bytes]:
    """``crmsync run`` in a process group of its own (the engine and its writer processes); its
    log goes to ``run.log`` beside ``config``."""
    with (config.parent / "run.log").open("ab") as log:
        return subprocess.Popen(
            _command(config, "--verbose"),
            env={**os.environ, **ENV},
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )


def kill(process: subprocess.Popen[bytes], group: bool) -> None:
    """SIGKILL the engine (``group``: with its writer processes)."""
    if group:
        os.killpg(process.pid, signal.SIGKILL)
    else:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def run_once(config: Path) -> None:
    """``crmsync run --once``: read the CRM until caught up, then send every Campaign edit."""
    done = subprocess.run(
        _command(config, "--once", "--verbose"),
        env={**os.environ, **ENV},
        capture_output=True,
        timeout=120,
        check=False,
    )
    with (config.parent / "run.log").open("ab") as log:
        log.write(done.stderr)
    assert done.returncode == 0, done.stderr.decode()


# -- CRM writes per record ------------------------------------------------------------------------


class WriteCounter:
    """The updates each contact of a CRM emulator took, committed ones only: a trigger in the
    emulator's database logs each with the merged fields' new values (an update refused or
    rolled back logs nothing)."""

    def __init__(self, crm: Crm) -> None:
        self.store = crm.emulator.store
        table, key, stamp = _EMULATOR_TABLES[crm.kind]
        names = ", ".join(f'"{name}"' for name in crm.fields)
        new = ", ".join(f'NEW."{name}"' for name in (key, *crm.fields))
        with self.store.transaction() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE test_contact_writes (seq INTEGER PRIMARY KEY, id TEXT NOT NULL,"
                f" {names}, at TEXT NOT NULL)"
            )
            insert = (
                f"INSERT INTO test_contact_writes (id, {names}, at)"  # noqa: S608 - schema names
                f" VALUES ({new}, strftime('%H:%M:%f', 'now'))"
            )
            trigger = f'AFTER UPDATE OF "{stamp}" ON "{table}" BEGIN {insert}; END'
            conn.exec_driver_sql(f"CREATE TRIGGER test_log_contact_writes {trigger}")

    def counts(self) -> Counter[str]:
        """Record id → the updates it took."""
        with self.store.reading() as conn:
            rows = conn.exec_driver_sql(
                "SELECT id, count(*) FROM test_contact_writes GROUP BY id"
            ).all()
        return Counter({str(key): int(writes) for key, writes in rows})

    def history(self, key: str) -> list[tuple[Any, ...]]:
        """The updates of one record, oldest first: the merged fields' values and the time."""
        with self.store.reading() as conn:
            rows = conn.exec_driver_sql(
                "SELECT * FROM test_contact_writes WHERE id = ? ORDER BY seq", (key,)
            ).all()
        return [tuple(row[2:]) for row in rows]


# -- two-way traffic ------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Edits of both sides by plan (:data:`PLANS`), a round at a time, and what they intend.

    ``expected``: (record, column) → the last value its only editing side gave it.
    ``campaign_rounds``: record → the Campaign transactions that edited it.
    ``crm_writes``: record → the updates the test itself made in the CRM.
    """

    crm: Crm
    rng: random.Random
    plans: dict[str, str]
    expected: dict[tuple[str, str], str] = field(default_factory=dict)
    campaign_rounds: Counter[str] = field(default_factory=Counter)
    crm_writes: Counter[str] = field(default_factory=Counter)
    rounds: int = 0
    #: (time, side, record, values) of every edit, for the story of a failure.
    log: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)

    @classmethod
    def planned(cls, crm: Crm, rng: random.Random, ids: list[str]) -> Traffic:
        """Traffic over ``ids``, the plans dealt in equal shares at random."""
        kinds = list(PLANS)
        plans = {key: kinds[n % len(kinds)] for n, key in enumerate(rng.sample(ids, len(ids)))}
        return cls(crm, rng, plans)

    def keys(self, kind: str) -> list[str]:
        return sorted(key for key, plan in self.plans.items() if plan == kind)

    def editors(self, side: int) -> list[str]:
        """The records some column of which ``side`` (0: Campaign, 1: CRM) edits."""
        return sorted(key for key, plan in self.plans.items() if PLANS[plan][side])

    def _value(self, side: str, column: str, key: str) -> str:
        return f"{side[:2]}{self.rounds}-{column[:2]}-{key[-6:]}"

    def _picks(self, side: int, count: int) -> dict[str, dict[str, str]]:
        chosen = self.rng.sample(self.editors(side), count)
        name = ("campaign", "crm")[side]
        edits: dict[str, dict[str, str]] = {}
        for key in chosen:
            columns = PLANS[self.plans[key]][side]
            edit = {c: self._value(name, c, key) for c in columns if self.rng.random() < 0.7}
            edits[key] = edit or {columns[0]: self._value(name, columns[0], key)}
        return edits

    async def round(self, crm: Connector, engine: sa.Engine, count: int) -> None:
        """One Campaign transaction and one CRM request, each editing ``count`` records."""
        self.rounds += 1
        campaign, crm_edits = self._picks(0, count), self._picks(1, count)
        await asyncio.to_thread(self._edit_campaign, engine, campaign)
        now = datetime.now(UTC).strftime("%H:%M:%S.%f")
        for key, values in campaign.items():
            self.log.append((now, "campaign", key, values))
            self.campaign_rounds[key] += 1
            self._intend(key, values, 0)
        fields = dict(zip(COLUMNS, self.crm.fields, strict=True))
        ops = [
            WriteOp("update", self.crm.table, {fields[c]: v for c, v in values.items()}, id=key)
            for key, values in crm_edits.items()
        ]
        results = await crm.write(ops)
        now = datetime.now(UTC).strftime("%H:%M:%S.%f")
        for (key, values), result in zip(crm_edits.items(), results, strict=True):
            assert result.ok, result
            self.log.append((now, "crm", key, values))
            self.crm_writes[key] += 1
            self._intend(key, values, 1)

    def _intend(self, key: str, values: dict[str, str], side: int) -> None:
        if self.plans[key] == "both":
            return  # the newer edit wins: only the sides' agreement is known
        for column, value in values.items():
            self.expected[key, column] = value

    @staticmethod
    def _edit_campaign(engine: sa.Engine, edits: dict[str, dict[str, str]]) -> None:
        """One transaction of ``UPDATE``s, tried again when PostgreSQL picks it as the victim
        of a deadlock with crmsync's own row locks (as any client of the database would)."""
        table = sa.Table("profile", sa.MetaData(), autoload_with=engine)
        for attempt in range(_DEADLOCK_ATTEMPTS):
            try:
                with write_transaction(engine) as conn:
                    for key in sorted(edits):
                        update = sa.update(table).where(table.c.external_id == key)
                        conn.execute(update.values(edits[key]))
                return
            except sa.exc.OperationalError as exc:
                deadlock = getattr(exc.orig, "sqlstate", None) == _DEADLOCK
                if not deadlock or attempt == _DEADLOCK_ATTEMPTS - 1:
                    raise


def store_engine(store: tuple[str, str | None]) -> sa.Engine:
    url, schema = store
    return create_engine_for(url, schema=schema)


def crm_rows(records: dict[str, dict[str, Any]], crm: Crm) -> dict[str, dict[str, Any]]:
    """CRM records (``Crm.records``) with their merged values under the Campaign columns."""
    return {
        key: {column: values.get(name) for column, name in zip(COLUMNS, crm.fields, strict=True)}
        for key, values in records.items()
    }
