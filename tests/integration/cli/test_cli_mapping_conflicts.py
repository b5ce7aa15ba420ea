"""``crmsync mapping conflicts`` lists what the two-way merge logged, as a table or JSON, per
record and cut to ``--limit``; it refuses an unknown mapping; ``crmsync status`` shows a two-way
mapping's conflicts and Campaign edits waiting, and nothing new for a one-way one (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.state import ensure_store_schema
from crmsync.store.publish import publish
from crmsync.twoway import install_capture, record_conflicts
from crmsync.twoway.rule import Conflict, Reason, Winner

AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
CONFIG = """\
version: 1
connections:
  dynamics:
    kind: dataverse
    url: https://127.0.0.1:1
    authority: https://127.0.0.1:1/tenant
    client_id: test
    client_secret_env: CRMSYNC_TEST_SECRET
store:
  url: {url}
{schema}queue:
  kind: sqlite
  path: {folder}/queue.db
resources:
  - name: lead
    identifier: crm_id
    fields:
      - {{name: crm_id, type: string, length: 36}}
      - {{name: first_name, type: string, length: 100}}
inbound:
  mappings:
    - name: contacts
      connection: dynamics
      crm_table: contact
      resource: profile
      primary_key: {{campaign: external_id}}
      two_way: true
      fields:
        - {{crm: emailaddress1, campaign: email}}
    - name: leads
      connection: dynamics
      crm_table: lead
      resource: lead
      primary_key: {{campaign: crm_id}}
      fields:
        - {{crm: firstname, campaign: first_name}}
"""


@pytest.fixture
def config(
    store_location: tuple[str, str | None],
    store_engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A configuration whose store holds three conflicts of ``contacts`` and one Campaign edit
    of ``profile`` waiting for the merge."""
    monkeypatch.setenv("CRMSYNC_TEST_SECRET", "secret")
    url, schema = store_location
    path = tmp_path / "crmsync.yaml"
    path.write_text(
        CONFIG.format(
            url=url, schema=f"  pg_schema: {schema}\n" if schema else "", folder=tmp_path
        ),
        encoding="utf-8",
    )
    ensure_store_schema(store_engine)
    publish(store_engine, [])
    install_capture(store_engine, "profile", ["email"], key="external_id")
    conflicts = [
        Conflict("email", "a@campaign", "[red]a@crm", AT, AT, Winner.CRM, Reason.TIE_TO_CRM),
        Conflict("born", date(1815, 12, 10), None, None, AT, Winner.CRM, Reason.NO_BASE_TO_CRM),
    ]
    later = Conflict("email", 7, "x", AT + timedelta(1), AT, Winner.CAMPAIGN, Reason.CAMPAIGN_NEWER)
    with store_engine.begin() as conn:
        record_conflicts(conn, "contacts", "C-1", conflicts, found_by="crm", at=AT)
        record_conflicts(conn, "contacts", "C-2", [later], found_by="campaign", at=AT)
        conn.execute(
            sa.text(
                "INSERT INTO profile (external_id, email, created_at, modified_at)"
                " VALUES ('C-3', 'c@campaign', :at, :at)"
            ).bindparams(sa.bindparam("at", AT, type_=sa.DateTime(timezone=True)))
        )
    return path


def invoke(*arguments: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, list(arguments))
    return done.exit_code, done.stdout, done.stderr


def test_the_conflicts_are_printed_as_json_newest_first(config: Path) -> None:
    code, out, err = invoke("mapping", "conflicts", "contacts", "--config", str(config), "--json")
    assert code == 0, err
    found = json.loads(out)
    assert [(c["record_key"], c["field"]) for c in found] == [
        ("C-2", "email"),
        ("C-1", "born"),
        ("C-1", "email"),
    ]
    assert found[0] == {
        "id": found[0]["id"],
        "mapping": "contacts",
        "record_key": "C-2",
        "field": "email",
        "campaign_value": 7,
        "crm_value": "x",
        "campaign_changed_at": "2025-01-03T03:04:05+00:00",
        "crm_changed_at": "2025-01-02T03:04:05+00:00",
        "winner": "campaign",
        "reason": "campaign_newer",
        "found_by": "campaign",
        "decided_at": "2025-01-02T03:04:05+00:00",
    }
    assert (found[1]["campaign_value"], found[1]["crm_value"]) == ("1815-12-10", None)
    assert found[1]["campaign_changed_at"] is None


def test_the_conflicts_of_one_record_are_cut_to_the_limit(config: Path) -> None:
    arguments = ("mapping", "conflicts", "contacts", "-c", str(config), "--json")
    code, out, _err = invoke(*arguments, "--record", "C-1", "--limit", "1")
    assert code == 0
    assert [(c["record_key"], c["field"]) for c in json.loads(out)] == [("C-1", "born")]
    code, out, _err = invoke(*arguments, "--record", "C-9")
    assert (code, json.loads(out)) == (0, [])


def test_the_table_shows_both_values_and_times_the_winner_and_why(config: Path) -> None:
    code, out, err = invoke("mapping", "conflicts", "contacts", "--config", str(config))
    assert code == 0, err
    lines = out.splitlines()
    assert "conflicts of contacts (newest first)" in out
    assert lines.index(next(line for line in lines if "C-2" in line)) < lines.index(
        next(line for line in lines if "C-1" in line and "born" in line)
    )
    born = next(line for line in lines if "born" in line)
    assert "1815-12-10 @ unknown time" in born
    assert "(empty) @ 2025-01-02 03:04:05+00:00" in born
    assert "no base to crm" in born
    assert "[red]a@crm @ 2025-01-02 03:04:05+00:00" in out  # a value is text, never markup
    assert "7 @ 2025-01-03 03:04:05+00:00" in out


def test_an_unknown_mapping_is_refused_and_a_one_way_one_has_none(config: Path) -> None:
    code, out, err = invoke("mapping", "conflicts", "orders", "--config", str(config))
    assert (code, out) == (1, "")
    assert "there is no inbound mapping 'orders'" in err
    code, out, _err = invoke("mapping", "conflicts", "leads", "--config", str(config))
    assert (code, out) == (0, "no conflicts logged for 'leads'\n")


def test_status_shows_the_two_way_figures_of_two_way_mappings_only(config: Path) -> None:
    code, out, err = invoke("status", "--config", str(config), "--json")
    assert code == 0, err
    mappings = json.loads(out)["mappings"]
    assert mappings["contacts"]["two_way"] == {"conflicts": 3, "waiting_edits": 1}
    assert "two_way" not in mappings["leads"]
    code, out, err = invoke("status", "--config", str(config))
    assert code == 0, err
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    cells = {name: [c.strip() for c in rows[name].split("│")[2:4]] for name in rows}
    assert out.index("contacts") < out.index("leads")
    assert cells["two-way"] == ["yes", ""]
    assert cells["conflicts"] == ["3", ""]
    assert cells["Campaign edits waiting"] == ["1", ""]


def test_status_of_one_way_mappings_shows_nothing_new(config: Path) -> None:
    config.write_text(config.read_text().replace("      two_way: true\n", ""))
    code, out, err = invoke("status", "--config", str(config), "--json")
    assert code == 0, err
    assert [sorted(m) for m in json.loads(out)["mappings"].values()] == [
        ["backlog", "counters", "cursor_saved_at", "dead_letters", "parked", "queued", "rejects"]
    ] * 2
    code, out, err = invoke("status", "--config", str(config))
    assert code == 0, err
    assert "campaign writes" in out
    assert "two-way" not in out
    assert "Campaign edits waiting" not in out
