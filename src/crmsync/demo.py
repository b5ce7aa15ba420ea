"""The end-to-end demonstration behind ``crmsync demo`` (and ``make demo``).

With no set-up and no network, it starts a CRM emulator in-process over HTTPS (a local CA
generated on the spot) with sample contacts, accounts and subscriptions, and runs the inbound
workflow exactly as ``crmsync run`` does: contacts into ``profile`` and the CRM's subscription
table (Dataverse ``crmsync_subscription``, Salesforce ``Subscription__c``) into a linked custom
resource ``subscription``, in the SQLite file ``crmsync-demo.db`` of the current folder. Then it
makes live changes in the CRM (an update, a delete, and a change that takes a contact out of the
mapping's filter) and shows them arriving. Dataverse is the default CRM; Salesforce runs the same
story through its own emulator and connector.
"""

from __future__ import annotations

import secrets
import string
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
import uvicorn
from pydantic import SecretStr
from starlette.types import ASGIApp

from crmsync.api import create_app
from crmsync.api.users import Role, UserStore
from crmsync.config import load_config_text
from crmsync.config.models import Config
from crmsync.connectors.base import WriteOp
from crmsync.emulators.common import tls
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.dataverse.app import DataverseEmulator, create_emulator
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.salesforce.app import SalesforceEmulator
from crmsync.emulators.salesforce.app import create_emulator as create_salesforce_emulator
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.runtime.connectors import open_connector
from crmsync.serving import StoppableServer
from crmsync.store import create_engine_for
from crmsync.sync.engine import InboundEngine, RunSummary
from crmsync.sync.progress import InboundProgress, NoProgress
from crmsync.workflows import Supervisor, standard_specs

__all__ = ["DEMO_DB", "CrmKind", "DemoReport", "run_demo", "serve_console"]

CrmKind = Literal["dataverse", "salesforce"]

#: The demo's credentials: the emulator is started to accept exactly these.
DEMO_TENANT = "demo"
DEMO_CLIENT_ID = "crmsync-demo"
DEMO_SECRET = "demo-secret"  # noqa: S105 - a local emulator's throw-away credential
_SECRET_ENV = "CRMSYNC_DEMO_SECRET"  # noqa: S105 - the name of a variable, not a secret
_ENV = {_SECRET_ENV: DEMO_SECRET}
DEMO_DB = Path("crmsync-demo.db")

_RESOURCES = """
  - name: subscription
    identifier: crm_id
    fields:
      - {name: crm_id, type: string, length: 36}
      - {name: name, type: string, length: 100}
      - {name: contact_id, type: string, length: 255}
      - {name: plan, type: string, length: 64}
      - {name: started_on, type: date}
      - {name: active, type: boolean}
    links:
      - {resource: profile, field: contact_id, cardinality: "0..1", on_parent_delete: cascade}
"""

# The same two mappings for either CRM; ``_CRM_NAMES`` gives each CRM's table and field names.
_MAPPINGS = string.Template(
    """
  - name: contacts
    connection: demo
    crm_table: $contact
    resource: profile
    primary_key: {campaign: external_id}
    fields:
      - {crm: $first_name, campaign: first_name}
      - {crm: $last_name, campaign: last_name}
      - {crm: $email, campaign: email}
      - {crm: $phone, campaign: phone}
      - {crm: $city, campaign: city}
      - {crm: $country, campaign: country}
      - {crm: $birth_date, campaign: birth_date, apply_updates: false}
    filters:
      conditions:
        - {field: $email, op: is_not_empty}
    delete_filtered_out: true
  - name: subscriptions
    connection: demo
    crm_table: $subscription
    resource: subscription
    primary_key: {campaign: crm_id}
    fields:
      - {crm: $name, campaign: name}
      - {crm: $contact_id, campaign: contact_id}
      - {crm: $plan, campaign: plan}
      - {crm: $started_on, campaign: started_on}
      - {crm: $active, campaign: active}
    picklist_values: display
"""
)

_CRM_NAMES: dict[CrmKind, dict[str, str]] = {
    "dataverse": {
        "contact": "contact",
        "first_name": "firstname",
        "last_name": "lastname",
        "email": "emailaddress1",
        "phone": "telephone1",
        "city": "address1_city",
        "country": "address1_country",
        "birth_date": "birthdate",
        "subscription": "crmsync_subscription",
        "name": "crmsync_name",
        "contact_id": "crmsync_contactid",
        "plan": "crmsync_plan",
        "started_on": "crmsync_startdate",
        "active": "crmsync_active",
    },
    "salesforce": {
        "contact": "Contact",
        "first_name": "FirstName",
        "last_name": "LastName",
        "email": "Email",
        "phone": "Phone",
        "city": "MailingCity",
        "country": "MailingCountry",
        "birth_date": "Birthdate",
        "subscription": "Subscription__c",
        "name": "Name",
        "contact_id": "Contact__c",
        "plan": "Plan__c",
        "started_on": "Start_Date__c",
        "active": "Active__c",
    },
}


@dataclass(frozen=True, slots=True)
class _DemoCrm:
    """What differs between the CRMs: the connection, the mappings, the contact fields."""

    kind: CrmKind
    label: str
    mappings: str
    contact_table: str
    city: str
    email: str

    def connection(self, url: str, ca: Path) -> str:
        """The demo connection's lines of the configuration file."""
        where = f"url: {url}\n"
        if self.kind == "dataverse":
            where += f"authority: {url}/{DEMO_TENANT}\n"
        return (
            f"kind: {self.kind}\n{where}client_id: {DEMO_CLIENT_ID}\n"
            f"client_secret_env: {_SECRET_ENV}\nca_bundle: {ca}\n"
        )

    def live_changes(self, updated: str, deleted: str, filtered: str) -> list[WriteOp]:
        """A move, a delete, and a lost email address (out of the contacts filter)."""
        table = self.contact_table
        return [
            WriteOp("update", table, {self.city: "Reykjavík"}, id=updated),
            WriteOp("delete", table, id=deleted),
            WriteOp("update", table, {self.email: None}, id=filtered),
        ]


_CRMS: dict[CrmKind, _DemoCrm] = {
    kind: _DemoCrm(
        kind,
        kind.title(),
        _MAPPINGS.substitute(names),
        names["contact"],
        names["city"],
        names["email"],
    )
    for kind, names in _CRM_NAMES.items()
}


@dataclass(slots=True)
class DemoReport:
    """What the demo did, for the summary."""

    url: str = ""
    database: Path = DEMO_DB
    seconds: float = 0.0
    initial: RunSummary = field(default_factory=RunSummary)
    final: RunSummary = field(default_factory=RunSummary)
    profiles: int = 0
    subscriptions: int = 0
    updated_id: str = ""
    deleted_id: str = ""
    filtered_id: str = ""
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def changes_arrived(self) -> bool:
        return bool(self.checks) and all(self.checks.values())


Say = Callable[[str], None]


def demo_config_text(
    url: str, ca: Path, database: Path, queue: Path, crm: CrmKind = "dataverse"
) -> str:
    """The demo's configuration file."""
    demo_crm = _CRMS[crm]
    connection = textwrap.indent(demo_crm.connection(url, ca), " " * 4)
    text = "version: 1\nconnections:\n  demo:\n" + connection
    text += textwrap.dedent(
        f"""\
        store:
          url: sqlite:///{database.resolve()}
        queue:
          kind: sqlite
          path: {queue}
        inbound:
          poll_interval_seconds: 0.5
          mappings:"""
    )
    return text + demo_crm.mappings + "resources:" + _RESOURCES


async def run_demo(
    *,
    contacts: int = 2000,
    database: Path = DEMO_DB,
    say: Say = print,
    progress: Callable[[list[str]], InboundProgress] | None = None,
    crm: CrmKind = "dataverse",
    then: Callable[[str, DemoReport], Awaitable[None]] | None = None,
) -> DemoReport:
    """Run the demonstration against ``crm``; ``say`` receives one line per step.

    ``then`` is awaited after the sync with the demo's configuration file and the report, while
    the emulator still runs (``crmsync demo --serve`` serves the console there).
    """
    report = DemoReport(database=database)
    _remove_database(database)
    demo_crm = _CRMS[crm]
    with tempfile.TemporaryDirectory(prefix="crmsync-demo-") as tmp:
        files = tls.generate(["127.0.0.1", "localhost"]).write(Path(tmp))
        say(f"Starting the {demo_crm.label} emulator with {contacts:,} contacts (HTTPS, local CA)…")
        with _emulator(crm, contacts) as app, BackgroundServer(app, tls=files) as server:
            report.url = server.url
            text = demo_config_text(server.url, files.ca, database, Path(tmp) / "queue.db", crm)
            config = load_config_text(text, source="<demo>", environ=_ENV)
            await _sync(config, report, say, progress, demo_crm)
            if then is not None:
                await then(text, report)
    return report


@contextmanager
def _emulator(crm: CrmKind, contacts: int) -> Iterator[ASGIApp]:
    """The ASGI app of a seeded emulator that accepts the demo's credentials only."""
    accounts = max(1, contacts // 10)
    emulator: SalesforceEmulator | DataverseEmulator
    if crm == "salesforce":
        emulator = create_salesforce_emulator(
            SalesforceEmulatorSettings(
                seed_contacts=contacts,
                seed_accounts=accounts,
                seed_subscriptions=max(1, contacts // 2),
                client_id=DEMO_CLIENT_ID,
                client_secret=SecretStr(DEMO_SECRET),
            )
        )
    else:
        emulator = create_emulator(
            DataverseEmulatorSettings(
                seed_contacts=contacts,
                seed_accounts=accounts,
                client_id=DEMO_CLIENT_ID,
                client_secret=SecretStr(DEMO_SECRET),
            )
        )
    try:
        yield emulator.app
    finally:
        emulator.close()


async def _run(config: Config, progress: InboundProgress) -> RunSummary:
    async with InboundEngine(config, environ=_ENV, progress=progress) as engine:
        return await engine.run(once=True)


async def _sync(
    config: Config,
    report: DemoReport,
    say: Say,
    progress: Callable[[list[str]], InboundProgress] | None,
    demo_crm: _DemoCrm,
) -> None:
    names = [m.name for m in config.inbound.mappings]
    bars = progress or (lambda _names: NoProgress())
    say(f"Initial load into {report.database} (contacts → profile, subscriptions → subscription)…")
    started = time.perf_counter()
    report.initial = await _run(config, bars(names))
    report.seconds = time.perf_counter() - started
    profiles = _rows(report.database, "profile")
    report.profiles, report.subscriptions = (
        len(profiles),
        len(_rows(report.database, "subscription")),
    )
    say(
        f"Loaded {report.profiles:,} profiles and {report.subscriptions:,} subscriptions in "
        f"{report.seconds:.1f} s."
    )
    if report.initial.rejects:
        say(
            f"{report.initial.rejects:,} subscriptions belong to contacts the filter leaves out "
            "(no email address): rejected as PARENT_MISSING, never shown without their profile."
        )
    report.updated_id, report.deleted_id, report.filtered_id = sorted(profiles)[:3]
    crm = open_connector("demo", config.connections["demo"], _ENV)
    try:
        results = await crm.write(
            demo_crm.live_changes(report.updated_id, report.deleted_id, report.filtered_id)
        )
    finally:
        await crm.aclose()
    failed = [result for result in results if not result.ok]
    if failed:
        raise RuntimeError(f"live changes were refused: {failed}")
    say(
        "Live changes in the CRM: one contact moved to Reykjavík, one deleted, one lost its "
        "email address (it leaves the mapping's filter)."
    )
    report.final = await _run(config, NoProgress())
    after = _rows(report.database, "profile")
    report.checks = {
        "update arrived": after.get(report.updated_id, {}).get("city") == "Reykjavík",
        "delete arrived": report.deleted_id not in after,
        "filtered-out contact removed": report.filtered_id not in after,
    }
    for check, ok in report.checks.items():
        say(f"  {'✓' if ok else '✗'} {check}")


def _remove_database(database: Path) -> None:
    """Start from an empty store: the cursors of an earlier demo belong to another emulator."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


def _rows(database: Path, table: str) -> dict[str, dict[str, object]]:
    engine = create_engine_for(f"sqlite:///{database.resolve()}")
    try:
        t = sa.Table(table, sa.MetaData(), autoload_with=engine)
        key = "external_id" if table == "profile" else "crm_id"
        with engine.connect() as conn:
            return {
                row[key]: dict(row)
                for row in conn.execute(sa.select(t).where(t.c[key].is_not(None))).mappings()
            }
    finally:
        engine.dispose()


#: The console's user of ``crmsync demo --serve`` (its password is generated at each start).
DEMO_ADMIN = "demo-admin"


async def serve_console(text: str, *, host: str, port: int, say: Say = print) -> None:
    """The console over the store of the configuration ``text`` until SIGINT/SIGTERM, with a
    demo admin whose generated password is said once (and stored only as its argon2 hash)."""
    config = load_config_text(text, source="<demo>", environ=_ENV)
    engine = create_engine_for(config.store.url)
    supervisor = Supervisor(engine, text, standard_specs(_ENV), environ=_ENV)
    password = secrets.token_urlsafe(12)
    users = UserStore(engine)
    users.add(DEMO_ADMIN, Role.ADMIN, password)

    def ready(bound: int) -> None:
        say(f"Console: http://{host}:{bound}/console/")
        say(f"Log in as {DEMO_ADMIN} with the password {password}")
        say("The emulator keeps running; press Ctrl-C to stop.")

    server = StoppableServer(
        uvicorn.Config(create_app(supervisor, users), host=host, port=port, log_level="warning"),
        on_ready=ready,
    )
    try:
        await server.serve()
    finally:
        await supervisor.close()
        engine.dispose()
