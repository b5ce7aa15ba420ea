"""``crmsync run --once`` with the Campaign store on PostgreSQL and the change queue on NATS
JetStream, against the Dataverse emulator over HTTPS: the store ends equal to the CRM, and
``crmsync status`` reads the backlog from the stream. Skips when PostgreSQL or NATS is
unreachable, except in CI (``CI=true``), where that is a failure."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from inbound_support import CONTACTS_MAPPING, ENV, Crm, config_text, running_crm, store_rows
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.config import load_config
from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import generate


@pytest.fixture
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crm]:
    tls = generate([]).write(tmp_path_factory.mktemp("tls"))
    with running_crm(tls, contacts=40, page_size=15) as running:
        yield running


@pytest.fixture
def config(
    crm: Crm,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,
    pg_schema: str,
    nats_url: str,
    nats_stream: str,
) -> Path:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    text = config_text(
        crm.url, crm.tls.ca, tmp_path, CONTACTS_MAPPING, store_url=postgres_url, pg_schema=pg_schema
    )
    sqlite_queue = f"queue:\n  kind: sqlite\n  path: {tmp_path / 'queue.db'}\n"
    assert sqlite_queue in text
    nats_queue = f"queue:\n  kind: nats\n  url: {nats_url}\n  stream: {nats_stream}\n"
    path = tmp_path / "crmsync.yaml"
    path.write_text(text.replace(sqlite_queue, nats_queue), encoding="utf-8")
    return path


def test_run_once_over_postgresql_and_nats(crm: Crm, config: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["run", "--config", str(config), "--once", "--no-progress"])
    assert done.exit_code == 0, done.output
    loaded = load_config(config)
    contacts = asyncio.run(crm.rows("contact", ("firstname", "emailaddress1")))
    stored = store_rows(loaded, "profile", "external_id")
    assert set(stored) == set(contacts)
    assert all(stored[key]["email"] == values["emailaddress1"] for key, values in contacts.items())
    assert not (tmp_path / "queue.db").exists()

    first = sorted(contacts)[0]
    asyncio.run(crm.write(WriteOp("update", "contact", {"firstname": "Jet"}, id=first)))
    again = runner.invoke(app, ["run", "--config", str(config), "--once", "--no-progress"])
    assert again.exit_code == 0, again.output
    assert store_rows(loaded, "profile", "external_id")[first]["first_name"] == "Jet"

    shown = runner.invoke(app, ["status", "--config", str(config), "--json"])
    assert shown.exit_code == 0, shown.output
    mapping = json.loads(shown.stdout)["mappings"]["contacts"]
    assert (mapping["queued"], mapping["dead_letters"]) == (0, 0)
    assert mapping["counters"]["inserted"] == 40
