"""``crmsync run --once``, ``crmsync status --json`` and ``crmsync mapping replay`` against the
Dataverse emulator over HTTPS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from inbound_support import CONTACTS_MAPPING, ENV, Crm, config_text, running_crm
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.emulators.common.tls import generate


@pytest.fixture
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crm]:
    tls = generate([]).write(tmp_path_factory.mktemp("tls"))
    with running_crm(tls, contacts=25) as running:
        yield running


@pytest.fixture
def config(crm: Crm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "crmsync.yaml"
    path.write_text(config_text(crm.url, crm.tls.ca, tmp_path, CONTACTS_MAPPING), encoding="utf-8")
    return path


def _counted(table: str, counter: str) -> int:
    """The value on ``counter``'s line of a one-mapping counters table."""
    (line,) = (line for line in table.splitlines() if line.strip("│ ").startswith(counter))
    return int(line.strip("│ ").split()[-1].replace(",", ""))


def test_run_once_prints_what_this_run_did_on_stdout(config: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["run", "--config", str(config), "--once", "--progress"])
    assert first.exit_code == 0, first.output
    assert "inbound: this run" in first.stdout
    assert (_counted(first.stdout, "read"), _counted(first.stdout, "inserted")) == (25, 25)
    assert "inbound: this run" not in first.stderr
    again = runner.invoke(app, ["run", "--config", str(config), "--once", "--no-progress"])
    assert again.exit_code == 0, again.output
    assert (_counted(again.stdout, "read"), _counted(again.stdout, "inserted")) == (0, 0)
    assert again.stderr == ""


def test_run_once_then_status_and_replay(config: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["run", "--config", str(config), "--once", "--no-progress"])
    assert done.exit_code == 0, done.output
    assert "inserted" in done.stdout

    shown = runner.invoke(app, ["status", "--config", str(config), "--json"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["workflows"]["inbound"]["status"] == "STOPPED"
    assert document["workflows"]["inbound"]["backlog"] == 0
    contacts = document["mappings"]["contacts"]
    assert contacts["counters"]["inserted"] == 25
    assert contacts["cursor_saved_at"] is not None

    refused = runner.invoke(
        app, ["mapping", "replay", "contacts", "--config", str(config), "--limit", "10"]
    )
    assert refused.exit_code == 3
    assert "CRM table holds" in refused.output
    unknown = runner.invoke(app, ["mapping", "replay", "nope", "--config", str(config)])
    assert unknown.exit_code == 1
    assert "no inbound mapping 'nope'" in unknown.output
    asked = runner.invoke(app, ["mapping", "replay", "contacts", "--config", str(config)])
    assert asked.exit_code == 0, asked.output
    assert "next start of inbound" in " ".join(asked.output.split())


def test_bad_configuration_is_a_clear_error(crm: Crm, tmp_path: Path) -> None:
    path = tmp_path / "crmsync.yaml"
    path.write_text(config_text(crm.url, crm.tls.ca, tmp_path, CONTACTS_MAPPING), encoding="utf-8")
    # The secret's environment variable is not set.
    done = CliRunner().invoke(app, ["run", "--config", str(path), "--once", "--no-progress"])
    assert done.exit_code == 1
    assert "CRMSYNC_TEST_SECRET" in done.output
    assert not (tmp_path / "store.db").exists()  # nothing was created or written
