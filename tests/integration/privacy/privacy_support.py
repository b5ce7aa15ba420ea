"""Shared set-up of the privacy tests: either CRM's emulator with a person in it (a contact with a
subscription, both read into Campaign, and marketing events), the configuration file, the
``crmsync`` command, and the search for the person's values wherever the store keeps data."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher

sys.path.insert(0, str(Path(__file__).parents[1] / "twoway"))
# The console tests' login (and its users' password) is shared rather than copied.
sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "console"))
from console_support import PASSWORD, log_in
from twoway_support import (
    ENV,
    Crm,
    config_text,
    contacts_mapping,
    profiles,
    run_once,
    running_crm,
)

from crmsync.api import create_app
from crmsync.api.users import Role, UserStore
from crmsync.config import load_config_text
from crmsync.config.models import Config
from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.server import BackgroundServer
from crmsync.events.model import Event
from crmsync.events.record import record_events
from crmsync.queue.base import decode_changes
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for
from crmsync.workflows.supervisor import Supervisor, WorkflowSpec

__all__ = [
    "ENV",
    "PASSWORD",
    "Crm",
    "Person",
    "Served",
    "Setup",
    "cli",
    "counters",
    "leftovers",
    "log_in",
    "profiles",
    "queued_changes",
    "run_once",
    "running_crm",
    "seed_person",
    "served",
    "subscriptions",
]

EMAIL = {"dataverse": "emailaddress1", "salesforce": "Email"}
#: Per CRM: the subscription table, its name field and its lookup to the contact.
SUBSCRIPTIONS = {
    "dataverse": ("crmsync_subscription", "crmsync_name", "crmsync_contactid"),
    "salesforce": ("Subscription__c", "Name", "Contact__c"),
}
RESOURCES = """
  - name: subscription
    identifier: crm_id
    fields:
      - {name: crm_id, type: string, length: 36}
      - {name: name, type: string, length: 100}
      - {name: contact_id, type: string, length: 255}
    links:
      - {resource: profile, field: contact_id, cardinality: "0..1"}
"""
CRMSYNC = [sys.executable, "-m", "crmsync"]


def mappings(crm: Crm) -> str:
    """Contacts (two-way, with their email) into profiles, subscriptions into their resource."""
    table, name, contact = SUBSCRIPTIONS[crm.kind]
    email = f"      - {{crm: {EMAIL[crm.kind]}, campaign: email}}\n"
    return contacts_mapping(crm, extra=email) + (
        "  - name: subscriptions\n"
        "    connection: crm\n"
        f"    crm_table: {table}\n"
        "    resource: subscription\n"
        "    primary_key: {campaign: crm_id}\n"
        "    fields:\n"
        f"      - {{crm: {name}, campaign: name}}\n"
        f"      - {{crm: {contact}, campaign: contact_id}}\n"
    )


@dataclass(frozen=True)
class Setup:
    """The configuration file of a test and the configuration it holds."""

    path: Path
    config: Config

    @classmethod
    def write(cls, crm: Crm, folder: Path, store: tuple[str, str | None]) -> Setup:
        text = config_text(crm, folder, store, mappings(crm), RESOURCES)
        path = folder / "crmsync.yaml"
        path.write_text(text, encoding="utf-8")
        return cls(path, load_config_text(text, environ=ENV))

    def engine(self) -> sa.Engine:
        return create_engine_for(self.config.store.url, schema=self.config.store.pg_schema)


@dataclass(frozen=True)
class Person:
    """The contact a test deletes: its CRM id, its subscription's, the values only it holds."""

    crm_id: str
    subscription_id: str
    first_name: str
    email: str

    @property
    def marks(self) -> tuple[str, str]:
        return self.first_name, self.email


async def seed_person(crm: Crm) -> tuple[Person, str]:
    """Give the first contact a name and email no other record holds, and a subscription; give
    the second a subscription too. Returns the person and the other contact's id."""
    ids = sorted(await crm.records())
    target, other = ids[0], ids[1]
    tag = uuid.uuid4().hex[:10]
    person_first, email = f"Zelda{tag}", f"zelda.{tag}@privacy.example"
    first, _, _ = crm.fields
    await crm.update(target, **{first: person_first, EMAIL[crm.kind]: email})
    table, name, contact = SUBSCRIPTIONS[crm.kind]
    async with crm.connector() as connector:
        results = await connector.write(
            [
                WriteOp("create", table, {name: f"S{tag}", contact: target}),
                WriteOp("create", table, {name: f"T{tag}", contact: other}),
            ]
        )
    assert all(r.ok for r in results), results
    return Person(target, results[0].id or "", person_first, email), other


def record_sends(setup: Setup, *profile_ids: int) -> None:
    """A marketing event (a send) of each profile."""
    engine = setup.engine()
    try:
        record_events(
            engine,
            [
                Event(
                    type="send",
                    id=f"send-{uuid.uuid4().hex}",
                    profile_id=profile_id,
                    delivery_id="D1",
                    occurred_at=datetime.now(UTC),
                )
                for profile_id in profile_ids
            ],
        )
    finally:
        engine.dispose()


def subscriptions(setup: Setup) -> dict[str, dict[str, Any]]:
    """Every subscription row, by its CRM id."""
    engine = setup.engine()
    try:
        table = sa.Table("subscription", sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            return {row["crm_id"]: dict(row) for row in conn.execute(sa.select(table)).mappings()}
    finally:
        engine.dispose()


def counters(setup: Setup, mapping: str) -> dict[str, int]:
    engine = setup.engine()
    try:
        return StateStore(engine).counters.by_mapping()[mapping].as_dict()
    finally:
        engine.dispose()


def leftovers(setup: Setup, *marks: str) -> list[str]:
    """Every row of every table of the store (Campaign tables and crmsync's own) in which one of
    ``marks`` appears, as ``table: row``."""
    engine = setup.engine()
    found: list[str] = []
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    text = " ".join(str(value) for value in row)
                    if any(mark in text for mark in marks):
                        found.append(f"{table.name}: {text}")
    finally:
        engine.dispose()
    return found


def queued_changes(setup: Setup, record_id: str) -> int:
    """Changes of ``record_id`` in the SQLite change queue's messages and dead letters."""
    path = setup.config.queue.path
    if not Path(path).exists():
        return 0
    with sqlite3.connect(path) as conn:
        payloads = [
            *conn.execute("SELECT payload FROM queue_payloads"),
            *conn.execute("SELECT payload FROM queue_dead_letters"),
        ]
    return sum(
        1 for (payload,) in payloads for change in decode_changes(payload) if change.id == record_id
    )


def cli(*args: str, launcher: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``crmsync ARGS`` in a process of its own (through ``launcher``, a script that patches
    crmsync first, when given)."""
    command = [sys.executable, str(launcher)] if launcher is not None else CRMSYNC
    return subprocess.run(
        [*command, *args],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def delete_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@dataclass(frozen=True)
class Served:
    """The API and the console of a server, and an API token of a user of each role (each user
    is named after their role, with :data:`PASSWORD`)."""

    url: str
    tokens: dict[Role, str]

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


async def _never(*_args: object) -> None:
    raise AssertionError("no workflow runs here")


@contextmanager
def served(setup: Setup) -> Iterator[Served]:
    """``setup``'s store and configuration behind the API and the console, over HTTP."""
    engine = setup.engine()
    spec = WorkflowSpec(run=_never, backlog=_never)  # type: ignore[arg-type]
    supervisor = Supervisor(
        engine,
        setup.path.read_text(encoding="utf-8"),
        {"inbound": spec, "outbound": spec, "optinout": spec},
        environ=ENV,
    )
    users = UserStore(engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    tokens = {}
    for role in Role:
        users.add(role.value, role, PASSWORD)
        tokens[role] = users.new_token(role.value)
    try:
        with BackgroundServer(create_app(supervisor, users)) as server:
            yield Served(server.url, tokens)
    finally:
        engine.dispose()
