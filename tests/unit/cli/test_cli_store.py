"""``crmsync store version`` and ``crmsync store upgrade [--dry-run]`` on a SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.state import store_schema
from crmsync.store import create_engine_for

CONFIG = """\
version: 1
connections: {}
store:
  url: sqlite:///store.db
resources: []
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crmsync.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def _version(config: Path) -> str | None:
    engine = create_engine_for(f"sqlite:///{config.parent / 'store.db'}")
    try:
        return store_schema(engine).current
    finally:
        engine.dispose()


def test_dry_run_lists_the_migrations_and_changes_nothing(config: Path) -> None:
    done = CliRunner().invoke(app, ["store", "upgrade", "--config", str(config), "--dry-run"])
    assert done.exit_code == 0, done.output
    assert f"no store yet at {config.parent / 'store.db'}" in done.output
    assert "would run 0001_baseline" in done.output
    assert "nothing was changed" in done.output
    assert sorted(p.name for p in config.parent.iterdir()) == ["crmsync.yaml"]
    assert _version(config) is None


def test_version_and_a_dry_run_create_no_sqlite_file(config: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["store", "version", "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    assert f"no store yet at {config.parent / 'store.db'}" in shown.output
    assert "store schema version: none (no store yet" in shown.output
    for command in (["version"], ["upgrade", "--dry-run"]):
        done = runner.invoke(app, ["store", *command, "--config", str(config), "--json"])
        assert done.exit_code == 0, done.output
        document = json.loads(done.stdout)
        assert (document["exists"], document["version"]) == (False, None)
        assert document["pending"][-1]["version"] == document["head"]
    assert sorted(p.name for p in config.parent.iterdir()) == ["crmsync.yaml"]
    # Once made, the store is said to exist.
    assert runner.invoke(app, ["store", "upgrade", "--config", str(config)]).exit_code == 0
    done = runner.invoke(app, ["store", "version", "--config", str(config), "--json"])
    assert json.loads(done.stdout)["exists"] is True


def test_upgrade_then_version(config: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["store", "upgrade", "--config", str(config), "--json"])
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert document["version"] is None
    assert [m["version"] for m in document["pending"]][-1] == document["head"]
    assert _version(config) == document["head"]

    again = runner.invoke(app, ["store", "upgrade", "--config", str(config)])
    assert again.exit_code == 0
    assert "nothing to do" in again.output

    shown = runner.invoke(app, ["store", "version", "--config", str(config), "--json"])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert (status["version"], status["state"]) == (document["head"], "up to date")
    assert [(u["from"], u["to"]) for u in status["upgrades"]] == [(None, document["head"])]
    text = runner.invoke(app, ["store", "version", "--config", str(config)])
    assert f"store schema version: {document['head']} (up to date)" in text.output


def test_a_store_too_new_is_refused(config: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["store", "upgrade", "--config", str(config)]).exit_code == 0
    engine = create_engine_for(f"sqlite:///{config.parent / 'store.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE crmsync_schema_version SET version_num = '0099_later'"))
    engine.dispose()
    for dry_run in ([], ["--dry-run"]):
        done = runner.invoke(app, ["store", "upgrade", "--config", str(config), *dry_run])
        assert done.exit_code == 3
        assert "0099_later" in done.output
    shown = runner.invoke(app, ["store", "version", "--config", str(config)])
    assert shown.exit_code == 0
    assert "newer than this crmsync" in shown.output


def test_a_bad_configuration_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "crmsync.yaml"
    path.write_text("version: 1\nstore: {url: 'mysql://x'}\n", encoding="utf-8")
    done = CliRunner().invoke(app, ["store", "version", "--config", str(path)])
    assert done.exit_code == 1
    assert "error" in done.output
