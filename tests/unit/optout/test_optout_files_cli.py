"""The opt-out file exchange and the ``crmsync optout`` commands (no CRM involved)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.optout.files import export_changes, import_file
from crmsync.optout.tables import LOG, OUTBOX
from crmsync.state import ensure_store_schema
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


def _store(tmp_path: Path) -> tuple[sa.Engine, sa.Table, Path]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    profile = build_metadata(definitions_with_profile(())).tables["profile"]
    profile.metadata.create_all(engine)
    ensure_store_schema(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(profile),
            [
                {"external_id": key, "created_at": T0, "modified_at": T0}
                for key in ("p1", "p2", "p3")
            ],
        )
    config = tmp_path / "crmsync.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'store.db'}\n")
    return engine, profile, config


def test_import_keeps_good_lines_and_reports_bad_ones_by_number(tmp_path: Path) -> None:
    engine, profile, _ = _store(tmp_path)
    drop = tmp_path / "in.csv"
    drop.write_text(
        "external_id,attribute,opted_out,changed_at\n"
        "p1,optout_email,true,2026-05-01T10:00:00Z\n"
        "p2,optout_colour,true,2026-05-01T10:00:00Z\n"
        "p2,optout_sms,maybe,2026-05-01T10:00:00Z\n"
        "p3,optout_sms,true,yesterday\n"
        "nobody,optout_sms,true,2026-05-01T10:00:00Z\n"
        "p1,optout_email,true,2026-05-01T11:00:00Z\n"
    )
    report = import_file(engine, profile, drop)
    assert (report.applied, report.unchanged) == (1, 1)
    assert [line for line, _ in report.rejected] == [3, 4, 5, 6]
    assert "'optout_colour' is not an opt-out attribute" in report.rejected[0][1]
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(profile.c.optout_email, profile.c.optout_email_changed_at).where(
                profile.c.external_id == "p1"
            )
        ).one()
        sent = conn.execute(sa.select(OUTBOX.c.external_id, OUTBOX.c.origin)).all()
    assert tuple(row) == (True, datetime(2026, 5, 1, 10, tzinfo=UTC))
    assert [tuple(r) for r in sent] == [("p1", "file")]


def test_export_writes_each_change_once(tmp_path: Path) -> None:
    engine, profile, _ = _store(tmp_path)
    with engine.begin() as conn:
        conn.execute(
            sa.update(profile)
            .where(profile.c.external_id == "p2")
            .values(optout_fax=True, optout_fax_changed_at=T0)
        )
    path, count = export_changes(engine, profile, tmp_path / "out", now=T0.replace(hour=13))
    assert count == 1
    with path.open(newline="") as f:
        assert list(csv.reader(f)) == [
            ["external_id", "attribute", "opted_out", "changed_at"],
            ["p2", "optout_fax", "true", T0.isoformat()],
        ]
    _, again = export_changes(engine, profile, tmp_path / "out", now=T0.replace(hour=14))
    assert again == 0


def test_cli_set_and_log(tmp_path: Path) -> None:
    engine, _, config = _store(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["optout", "set", "p3", "optout_sms=true", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"changed": {"optout_sms": True}}
    bad = runner.invoke(app, ["optout", "set", "p3", "email=true", "-c", str(config)])
    assert bad.exit_code == 2
    assert "'email' is not an opt-out attribute" in bad.output
    with engine.begin() as conn:
        conn.execute(
            sa.insert(LOG).values(
                decided_at=T0,
                external_id="p3",
                attribute="optout_sms",
                crm_field="DoNotCall",
                direction="bidirectional",
                trigger="crm",
                crm_value=False,
                crm_time=T0,
                campaign_value=True,
                campaign_time=T0,
                result=True,
                winner="campaign",
                reason="crm_newer_or_equal_opt_out_wins",
                wrote="crm",
            )
        )
    shown = runner.invoke(app, ["optout", "log", "--json", "--person", "p3", "-c", str(config)])
    assert shown.exit_code == 0, shown.output
    (line,) = shown.output.splitlines()
    assert json.loads(line)["reason"] == "crm_newer_or_equal_opt_out_wins"
