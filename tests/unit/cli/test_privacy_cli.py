"""``crmsync privacy delete`` on a SQLite store without a CRM: the confirmation it asks for, its
refusals (nothing changed), and a delete by email that keeps only the email's hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.state.suppressions import email_hash
from crmsync.store import (
    PROFILE,
    build_metadata,
    create_engine_for,
    definitions_with_profile,
    publish,
)
from crmsync.store.writes import upsert_batch

CONFIG = """\
version: 1
connections: {}
store:
  url: sqlite:///store.db
queue:
  kind: sqlite
  path: queue.db
resources: []
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crmsync.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    publish(engine, [])
    profiles = build_metadata(definitions_with_profile([])).tables[PROFILE.name]
    rows = [
        {"external_id": "C1", "email": "Ann@Example.org", "first_name": "Ann"},
        {"external_id": "C2", "email": "twin@example.org", "first_name": "Bo"},
        {"external_id": "C3", "email": "TWIN@example.org", "first_name": "Cy"},
    ]
    with engine.begin() as conn:
        upsert_batch(conn, profiles, "external_id", rows, version_field=None)
    engine.dispose()
    return path


def _profiles(config: Path) -> list[str]:
    engine = create_engine_for(f"sqlite:///{config.parent / 'store.db'}")
    try:
        with engine.connect() as conn:
            return list(conn.scalars(sa.text("SELECT external_id FROM profile ORDER BY 1")))
    finally:
        engine.dispose()


def _invoke(config: Path, *args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, ["privacy", *args, "--config", str(config)])
    return done.exit_code, done.stdout, done.stderr


def test_without_a_terminal_it_asks_for_yes_and_deletes_nothing(config: Path) -> None:
    code, _, errors = _invoke(config, "delete", "--crm-id", "C1")
    assert code == 2
    assert "give --yes" in errors
    assert _profiles(config) == ["C1", "C2", "C3"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--crm-id", "C9"), "no profile has CRM id C9"),
        (("--email", "twin@example.org"), "2 profiles have the given email"),
        (("--profile", "x1"), "a Campaign profile id is a number"),
        (("--crm-id", "C1", "--crm-delete"), "needs the inbound mapping that reads profiles"),
    ],
)
def test_refusals_change_nothing(config: Path, args: tuple[str, ...], problem: str) -> None:
    code, _, errors = _invoke(config, "delete", *args, "--yes")
    assert code == 1
    assert problem in " ".join(errors.split())
    assert _profiles(config) == ["C1", "C2", "C3"]


def test_a_delete_by_email_keeps_its_hash_only(config: Path) -> None:
    code, out, errors = _invoke(config, "delete", "--email", "ann@example.ORG", "--yes", "--json")
    assert code == 0, errors
    record = json.loads(out)
    assert (record["crm_id"], record["email_hash"]) == ("C1", email_hash("ann@example.org"))
    assert record["removed"] == {"profile": 1}
    assert _profiles(config) == ["C2", "C3"]
    code, out, _ = _invoke(config, "suppressions", "--json")
    assert code == 0
    assert "Ann" not in out
    assert "ann@" not in out
    assert {(e["kind"], e["key"]) for e in json.loads(out)} == {
        ("crm_id", "C1"),
        ("email", email_hash("ann@example.org")),
    }
    code, out, _ = _invoke(config, "delete", "--email", "ANN@example.org", "--yes")
    assert code == 0
    assert f"profile {record['profile_id']} was privacy-deleted by {record['id']}" in out


def test_a_campaign_id_given_again_by_the_database_is_not_deleted_by_a_re_run(
    config: Path,
) -> None:
    code, out, errors = _invoke(config, "delete", "--crm-id", "C3", "--yes", "--json")
    assert code == 0, errors
    deleted = json.loads(out)["profile_id"]
    engine = create_engine_for(f"sqlite:///{config.parent / 'store.db'}")
    profiles = build_metadata(definitions_with_profile([])).tables[PROFILE.name]
    with engine.begin() as conn:  # SQLite gives the last row's id to the next row
        upsert_batch(conn, profiles, "external_id", [{"external_id": "C4"}], version_field=None)
        reused = conn.scalar(sa.text("SELECT id FROM profile WHERE external_id = 'C4'"))
    engine.dispose()
    assert reused == deleted

    code, _, errors = _invoke(config, "delete", "--profile", str(deleted), "--yes")
    assert code == 1
    assert "the profile holding that id now is another one" in " ".join(errors.split())
    assert _profiles(config) == ["C1", "C2", "C4"]
