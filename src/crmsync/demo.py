"""The end-to-end demonstration behind ``crmsync demo`` (and ``make demo``).

With no set-up and no network, it starts the Dataverse emulator in-process over HTTPS (a local CA
generated on the spot) with sample contacts, accounts and subscriptions, and runs the inbound
workflow exactly as ``crmsync run`` does: contacts into ``profile`` and the custom table
``crmsync_subscription`` into a linked custom resource ``subscription``, in the SQLite file
``crmsync-demo.db`` of the current folder. Then it makes live changes in the CRM (an update, a
delete, and a change that takes a contact out of the mapping's filter) and shows them arriving.
"""

from __future__ import annotations

import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from pydantic import SecretStr

from crmsync.config import load_config_text
from crmsync.config.models import Config
from crmsync.connectors.base import WriteOp
from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.emulators.common import tls
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.dataverse.app import create_emulator
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.store import create_engine_for
from crmsync.sync.engine import InboundEngine, RunSummary
from crmsync.sync.progress import InboundProgress, NoProgress

__all__ = ["DEMO_DB", "DemoReport", "run_demo"]

#: The demo's credentials: the emulator is started to accept exactly these.
DEMO_TENANT = "demo"
DEMO_CLIENT_ID = "crmsync-demo"
DEMO_SECRET = "demo-secret"  # noqa: S105 - a local emulator's throw-away credential
_SECRET_ENV = "CRMSYNC_DEMO_SECRET"  # noqa: S105 - the name of a variable, not a secret
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

_MAPPINGS = """
  - name: contacts
    connection: demo
    crm_table: contact
    resource: profile
    primary_key: {campaign: external_id}
    fields:
      - {crm: firstname, campaign: first_name}
      - {crm: lastname, campaign: last_name}
      - {crm: emailaddress1, campaign: email}
      - {crm: telephone1, campaign: phone}
      - {crm: address1_city, campaign: city}
      - {crm: address1_country, campaign: country}
      - {crm: birthdate, campaign: birth_date, apply_updates: false}
    filters:
      conditions:
        - {field: emailaddress1, op: is_not_empty}
    delete_filtered_out: true
  - name: subscriptions
    connection: demo
    crm_table: crmsync_subscription
    resource: subscription
    primary_key: {campaign: crm_id}
    fields:
      - {crm: crmsync_name, campaign: name}
      - {crm: crmsync_contactid, campaign: contact_id}
      - {crm: crmsync_plan, campaign: plan}
      - {crm: crmsync_startdate, campaign: started_on}
      - {crm: crmsync_active, campaign: active}
    picklist_values: display
"""


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


def demo_config(url: str, ca: Path, database: Path, queue: Path) -> Config:
    """The configuration the demo runs with (the same file a user would write)."""
    text = textwrap.dedent(
        f"""\
        version: 1
        connections:
          demo:
            kind: dataverse
            url: {url}
            authority: {url}/{DEMO_TENANT}
            client_id: {DEMO_CLIENT_ID}
            client_secret_env: {_SECRET_ENV}
            ca_bundle: {ca}
        store:
          url: sqlite:///{database.resolve()}
        queue:
          kind: sqlite
          path: {queue}
        inbound:
          poll_interval_seconds: 0.5
          mappings:"""
    )
    text += _MAPPINGS + "resources:" + _RESOURCES
    return load_config_text(text, source="<demo>", environ={_SECRET_ENV: DEMO_SECRET})


async def run_demo(
    *,
    contacts: int = 2000,
    database: Path = DEMO_DB,
    say: Say = print,
    progress: Callable[[list[str]], InboundProgress] | None = None,
) -> DemoReport:
    """Run the demonstration; ``say`` receives one line per step."""
    report = DemoReport(database=database)
    _remove_database(database)
    settings = DataverseEmulatorSettings(
        seed_contacts=contacts,
        seed_accounts=max(1, contacts // 10),
        client_id=DEMO_CLIENT_ID,
        client_secret=SecretStr(DEMO_SECRET),
    )
    with tempfile.TemporaryDirectory(prefix="crmsync-demo-") as tmp:
        files = tls.generate(["127.0.0.1", "localhost"]).write(Path(tmp))
        say(f"Starting the Dataverse emulator with {contacts:,} contacts (HTTPS, local CA)…")
        emulator = create_emulator(settings)
        try:
            with BackgroundServer(emulator.app, tls=files) as server:
                report.url = server.url
                config = demo_config(server.url, files.ca, database, Path(tmp) / "queue.db")
                await _sync(config, report, say, progress, files.ca)
        finally:
            emulator.close()
    return report


async def _run(config: Config, progress: InboundProgress) -> RunSummary:
    env = {_SECRET_ENV: DEMO_SECRET}
    async with InboundEngine(config, environ=env, progress=progress) as engine:
        return await engine.run(once=True)


async def _sync(
    config: Config,
    report: DemoReport,
    say: Say,
    progress: Callable[[list[str]], InboundProgress] | None,
    ca: Path,
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
    report.updated_id, report.deleted_id, report.filtered_id = sorted(profiles)[:3]
    crm = DataverseConnector(
        DataverseConnectionConfig(
            url=report.url,
            tenant_id=DEMO_TENANT,
            authority=f"{report.url}/{DEMO_TENANT}",
            client_id=DEMO_CLIENT_ID,
            client_secret=SecretStr(DEMO_SECRET),
            ca_bundle=ca,
        )
    )
    async with crm:
        results = await crm.write(
            [
                WriteOp("update", "contact", {"address1_city": "Reykjavík"}, id=report.updated_id),
                WriteOp("delete", "contact", id=report.deleted_id),
                WriteOp("update", "contact", {"emailaddress1": None}, id=report.filtered_id),
            ]
        )
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
