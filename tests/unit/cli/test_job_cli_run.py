"""``crmsync job run``, ``list``, ``show`` and ``rejects`` from the command line, on a job that
needs no CRM: Campaign profiles → deduplicate by email → a JSON Lines file."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.store import create_engine_for, publish

runner = CliRunner()

JOB = """\
version: 1
name: profiles-to-file
steps:
  select:
    kind: campaign_query
    resource: profile
    fields: [external_id, email]
    next: dedupe
  dedupe:
    kind: deduplicate
    keys: [email]
    next: write
  write:
    kind: write_file
    path: "{out}/profiles-{{run_id}}.jsonl"
    format: jsonl
"""


def test_run_list_show_and_rejects(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    config = tmp_path / "crmsync.yaml"
    config.write_text(f"version: 1\nstore:\n  url: {store_url}\n", encoding="utf-8")
    engine = create_engine_for(store_url)
    publish(engine, ())
    with engine.begin() as conn:
        profile = sa.Table("profile", sa.MetaData(), autoload_with=conn)
        now = datetime.now(UTC)
        conn.execute(
            sa.insert(profile),
            [
                {"external_id": key, "email": email, "created_at": now, "modified_at": now}
                | {"origin": "test"}
                for key, email in (
                    ("c-1", "ada@example.org"),
                    ("c-2", "ADA@example.org "),
                    ("c-3", "grace@example.org"),
                )
            ],
        )
    engine.dispose()
    job = tmp_path / "job.yaml"
    job.write_text(JOB.format(out=tmp_path), encoding="utf-8")

    ran = runner.invoke(app, ["job", "run", str(job), "-c", str(config)])
    assert ran.exit_code == 0, ran.output
    run_id = ran.output.strip().splitlines()[-1]  # the run id alone on the last line
    assert re.fullmatch(r"[0-9A-Za-z_-]{6,}", run_id), ran.output
    output = (tmp_path / f"profiles-{run_id}.jsonl").read_text(encoding="utf-8")
    written = [json.loads(line) for line in output.splitlines()]
    assert sorted(row["external_id"] for row in written) == ["c-1", "c-3"]

    listed = runner.invoke(app, ["job", "list", "-c", str(config)])
    assert listed.exit_code == 0, listed.output
    assert run_id in listed.output
    as_json = runner.invoke(app, ["job", "list", "--json", "-c", str(config)])
    assert as_json.exit_code == 0, as_json.output
    (run,) = json.loads(as_json.stdout)
    assert set(run) == {"id", "job", "source", "status", "started_at", "finished_at", "error"}
    assert (run["id"], run["job"], run["source"]) == (run_id, "profiles-to-file", str(job))
    assert (run["status"], run["error"]) == ("succeeded", None)
    assert datetime.fromisoformat(run["finished_at"]) >= datetime.fromisoformat(run["started_at"])

    shown = runner.invoke(app, ["job", "show", run_id, "--json", "-c", str(config)])
    assert shown.exit_code == 0, shown.output
    details = json.loads(shown.output)
    assert json.dumps(details).count("dedupe") >= 1
    assert "completed" in json.dumps(details).lower() or "succeeded" in json.dumps(details).lower()

    rejects = runner.invoke(app, ["job", "rejects", run_id, "--json", "-c", str(config)])
    assert rejects.exit_code == 0, rejects.output
    assert json.loads(rejects.output) == []
