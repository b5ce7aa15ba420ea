"""What commands do to the store on their own is recorded as ``cli:<OS user>``, and ``crmsync
audit`` lists the trail with its filters (JSON for scripts, a table for people), on both stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crmsync.audit import Actor
from crmsync.cli.main import app

ME = Actor.cli().name


def _config(store: tuple[str, str | None], extra: str = "") -> str:
    schema = f"\n  pg_schema: {store[1]}" if store[1] else ""
    return f"version: 1\nstore:\n  url: {store[0]}{schema}\n{extra}"


def _audit(runner: CliRunner, path: Path, *options: str) -> list[dict[str, Any]]:
    done = runner.invoke(app, ["audit", "--config", str(path), "--json", *options])
    assert done.exit_code == 0, done.output
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def test_local_commands_are_recorded_and_listed(
    tmp_path: Path, store_location: tuple[str, str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMSYNC_PASSWORD", "a cli password")
    path = tmp_path / "crmsync.yaml"
    path.write_text(_config(store_location), encoding="utf-8")
    runner = CliRunner()
    for command in (
        ["user", "add", "ada", "--role", "admin"],
        ["user", "add", "ada", "--role", "operator"],
        ["user", "token", "ada"],
        ["option", "set", "LASTIMPORT_contacts", "2025/01/02 03:04:05"],
    ):
        done = runner.invoke(app, [*command, "--config", str(path)])
        assert done.exit_code == 0, (command, done.output)
    made = runner.invoke(app, ["user", "token", "ada", "--config", str(path)])
    token = made.stdout.strip()
    assert token.startswith("crms_")
    # The file becomes each workflow's first revision, then is changed and applied.
    assert runner.invoke(app, ["config", "history", "--config", str(path)]).exit_code == 0
    path.write_text(
        _config(store_location, "inbound:\n  poll_interval_seconds: 2\n"), encoding="utf-8"
    )
    applied = runner.invoke(app, ["config", "apply", str(path), "--yes"])
    assert applied.exit_code == 0, applied.output

    everything = _audit(runner, path)
    assert [(e["actor"], e["face"], e["action"], e["target"]) for e in everything] == [
        (ME, "cli", "config.apply", "inbound"),
        (ME, "cli", "token.create", "ada"),
        (ME, "cli", "option.set", "LASTIMPORT_contacts"),
        (ME, "cli", "token.create", "ada"),
        (ME, "cli", "user.update", "ada"),
        (ME, "cli", "user.create", "ada"),
    ]
    assert all(e["outcome"] == "ok" for e in everything)
    assert everything[-1]["details"] == {"role": "admin", "password_changed": True}
    text = json.dumps(everything)
    for secret in ("a cli password", token, "2025/01/02"):
        assert secret not in text

    users = _audit(runner, path, "--action", "user.", "--user", ME.removeprefix("cli:"))
    assert [e["action"] for e in users] == ["user.update", "user.create"]
    assert _audit(runner, path, "--user", "token:ada") == []
    last = everything[1]["at"]
    assert [e["action"] for e in _audit(runner, path, "--since", last, "--limit", "1")] == [
        "config.apply"
    ]
    assert _audit(runner, path, "--until", everything[-1]["at"]) == []

    table = runner.invoke(app, ["audit", "--config", str(path), "--action", "option.set"])
    assert table.exit_code == 0, table.output
    assert "LASTIMPORT_contacts" in table.stdout
    assert "user.create" not in table.stdout
    bad = runner.invoke(app, ["audit", "--config", str(path), "--since", "yesterday"])
    assert bad.exit_code == 2
    assert "'yesterday' is not an ISO 8601 time" in " ".join(bad.output.split())
