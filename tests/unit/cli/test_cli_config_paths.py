"""Commands run from another folder use the store and queue next to the configuration file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.state.models import WorkflowStatus
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for

runner = CliRunner()


def test_status_from_another_folder_reads_the_store_next_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, elsewhere = tmp_path / "a", tmp_path / "b"
    folder.mkdir()
    elsewhere.mkdir()
    (folder / "crmsync.yaml").write_text("version: 1\nqueue:\n  path: queue.db\n", "utf-8")
    engine = create_engine_for(f"sqlite:///{folder / 'crmsync.db'}")
    StateStore(engine).statuses.set("inbound", WorkflowStatus.FAILED, "seen from the file's folder")
    engine.dispose()
    monkeypatch.chdir(elsewhere)
    for config in (str(folder / "crmsync.yaml"), "../a/crmsync.yaml"):
        result = runner.invoke(app, ["status", "--config", config, "--json"])
        assert result.exit_code == 0, result.output
        inbound = json.loads(result.output)["workflows"]["inbound"]
        assert (inbound["status"], inbound["reason"]) == ("FAILED", "seen from the file's folder")
    assert sorted(path.name for path in elsewhere.iterdir()) == []
    assert (folder / "queue.db").exists()


def test_a_command_from_another_folder_creates_the_store_next_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, elsewhere = tmp_path / "a", tmp_path / "b"
    folder.mkdir()
    elsewhere.mkdir()
    (folder / "crmsync.yaml").write_text("store:\n  url: sqlite:///data.db?timeout=5\n", "utf-8")
    monkeypatch.chdir(elsewhere)
    name, value = "LASTIMPORT_job_step", "2024/01/01 10:00:00"
    config = ["-c", "../a/crmsync.yaml"]
    assert runner.invoke(app, ["option", "set", name, value, *config]).exit_code == 0
    assert sorted(path.name for path in elsewhere.iterdir()) == []
    assert (folder / "data.db").exists()
    monkeypatch.chdir(folder)
    got = runner.invoke(app, ["option", "get", name, "-c", "crmsync.yaml"])
    assert got.output.strip() == value
