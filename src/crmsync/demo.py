"""The end-to-end demonstration behind ``crmsync demo`` (and ``make demo``).

With no set-up and no network, it starts the Dataverse emulator in-process over HTTPS (a local CA
generated on the spot), connects to it exactly as to a real organisation (MSAL client credentials,
TLS verification against that CA), reads the ``contact`` table in full with change tracking, makes a
few live changes in the CRM, and reads them back as a delta round.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from crmsync.connectors.base import ChangePage, WriteOp
from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.emulators.common import tls
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.dataverse.app import create_emulator
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings

__all__ = ["DemoReport", "run_demo"]

#: The demo's credentials: the emulator is started to accept exactly these.
DEMO_TENANT = "demo"
DEMO_CLIENT_ID = "crmsync-demo"
DEMO_SECRET = "demo-secret"  # noqa: S105 - a local emulator's throw-away credential
FIELDS = ("firstname", "lastname", "emailaddress1", "gendercode", "donotemail", "parentcustomerid")


@dataclass(slots=True)
class DemoReport:
    """What the demo did, for the summary."""

    url: str = ""
    contacts_read: int = 0
    pages: int = 0
    seconds: float = 0.0
    created_id: str = ""
    updated_id: str = ""
    deleted_id: str = ""
    changed_ids: list[str] = field(default_factory=list)
    deleted_ids: list[str] = field(default_factory=list)
    calls: int = 0

    @property
    def changes_arrived(self) -> bool:
        return (
            {self.created_id, self.updated_id} <= set(self.changed_ids)
            and self.deleted_id in self.deleted_ids
        )


Say = Callable[[str], None]


async def run_demo(*, contacts: int = 2000, say: Say = print) -> DemoReport:
    """Run the demonstration; ``say`` receives one line per step."""
    report = DemoReport()
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
                config = DataverseConnectionConfig(
                    url=server.url,
                    tenant_id=DEMO_TENANT,
                    authority=f"{server.url}/{DEMO_TENANT}",
                    client_id=DEMO_CLIENT_ID,
                    client_secret=SecretStr(DEMO_SECRET),
                    ca_bundle=files.ca,
                )
                async with DataverseConnector(config) as crm:
                    await _exchange(crm, report, say)
                    report.calls = _calls(crm)
        finally:
            emulator.close()
    return report


async def _exchange(crm: DataverseConnector, report: DemoReport, say: Say) -> None:
    info = await crm.describe("contact")
    say(
        f"Connected to {report.url} with MSAL; table 'contact' has {len(info.fields)} fields, "
        f"change tracking {'on' if info.change_tracking else 'off'}."
    )
    started = time.perf_counter()
    cursor: str | None = None
    sample_ids: list[str] = []
    async for page in crm.track_changes("contact", FIELDS, None):
        report.pages += 1
        report.contacts_read += len(page.records)
        sample_ids.extend(record.id for record in page.records[: 2 - len(sample_ids)])
        cursor = page.cursor or cursor
    report.seconds = time.perf_counter() - started
    say(
        f"Initial read: {report.contacts_read:,} contacts in {report.pages} pages "
        f"({report.contacts_read / max(report.seconds, 1e-9):,.0f} records/s)."
    )
    if cursor is None or len(sample_ids) < 2:
        raise RuntimeError("the initial read returned no delta link or too few contacts")

    report.updated_id, report.deleted_id = sample_ids
    results = await crm.write(
        [
            WriteOp(
                "create",
                "contact",
                {"firstname": "Ada", "lastname": "Lovelace", "emailaddress1": "ada@example.org"},
            ),
            WriteOp("update", "contact", {"donotemail": True}, id=report.updated_id),
            WriteOp("delete", "contact", id=report.deleted_id),
        ]
    )
    failed = [result for result in results if not result.ok]
    if failed:
        raise RuntimeError(f"live changes were refused: {failed}")
    report.created_id = results[0].id or ""
    say("Live changes made in the CRM: 1 contact created, 1 opted out of email, 1 deleted.")

    async for page in crm.track_changes("contact", FIELDS, cursor):
        _collect(page, report)
    say(
        f"Delta round: {len(report.changed_ids)} created/updated and "
        f"{len(report.deleted_ids)} deleted contacts arrived."
    )


def _collect(page: ChangePage, report: DemoReport) -> None:
    report.changed_ids.extend(record.id for record in page.records)
    report.deleted_ids.extend(deletion.id for deletion in page.deletions)


def _calls(crm: DataverseConnector) -> int:
    counters = crm.counters
    return counters.reads + counters.writes + counters.batches
