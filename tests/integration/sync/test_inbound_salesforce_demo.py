"""``crmsync demo --crm salesforce``: the Salesforce emulator synced end to end, live changes
arriving, and the default CRM still Dataverse."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.demo import run_demo


async def test_the_salesforce_demo_loads_and_follows_live_changes(tmp_path: Path) -> None:
    lines: list[str] = []
    report = await run_demo(
        contacts=120, database=tmp_path / "demo.db", say=lines.append, crm="salesforce"
    )
    assert report.checks == {
        "update arrived": True,
        "delete arrived": True,
        "filtered-out contact removed": True,
    }
    assert lines[0].startswith("Starting the Salesforce emulator with 120 contacts")
    counts = report.initial.counters["contacts"]
    # Every contact is read; those without an email are filtered out, the others are profiles.
    assert counts.read == 120
    assert counts.inserted == report.profiles == 120 - counts.filtered
    # Subscriptions are written (with their plan's label) or wait for a parent that never came.
    subs = report.initial.counters["subscriptions"]
    assert subs.inserted == report.subscriptions > 0
    assert subs.read == subs.inserted + subs.rejected
    assert report.initial.rejects == subs.rejected
    with sqlite3.connect(tmp_path / "demo.db") as db:
        plans = {plan for (plan,) in db.execute("select plan from subscription")}
    assert plans <= {"Free plan", "Basic plan", "Plus plan", "Premium plan"}
    assert plans


def test_the_cli_takes_the_crm_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["demo", "--crm", "hubspot"])
    assert bad.exit_code == 2
    assert "hubspot" in bad.output
    help_text = runner.invoke(app, ["demo", "--help"]).output
    assert "dataverse" in help_text
    assert "salesforce" in help_text


def test_make_demo_still_runs_dataverse_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo", "--contacts", "40"])
    assert result.exit_code == 0, result.output
    assert "Starting the Dataverse emulator with 40 contacts" in result.output
    assert "arrived" in result.output
    assert (tmp_path / "crmsync-demo.db").exists()
