"""A store made before schema versions is upgraded when crmsync opens it, its data intact; a new
store gets every migration; a store upgraded by a newer crmsync is refused, unchanged; the tables
the migrations make are the models' (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from state_support import OLD_AT, open_old_store, schema_differences, store_url
from typer.testing import CliRunner

from crmsync.api.users import UserStore
from crmsync.cli.main import app
from crmsync.events import Event, record_events
from crmsync.jobs.store import JobStore
from crmsync.state import StoreTooNewError, ensure_store_schema, store_schema
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for
from crmsync.workflows import Supervisor

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
resources: []
inbound:
  mappings:
    - name: contacts
      connection: dynamics
      crm_table: contact
      resource: profile
      primary_key: {{campaign: external_id}}
      fields:
        - {{crm: emailaddress1, campaign: email}}
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def postgres(request: pytest.FixtureRequest, kind: str) -> tuple[str, str] | None:
    if kind == "sqlite":
        return None
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("pg_schema")


@pytest.fixture
def old_store(kind: str, tmp_path: Path, postgres: tuple[str, str] | None) -> Iterator[sa.Engine]:
    """A copy of the store made before schema versions."""
    engine = open_old_store(kind, tmp_path, postgres)
    yield engine
    engine.dispose()


@pytest.fixture
def location(kind: str, tmp_path: Path, postgres: tuple[str, str] | None) -> tuple[str, str | None]:
    """The URL and PostgreSQL schema of :func:`old_store`."""
    return store_url(kind, tmp_path, postgres)


@pytest.fixture
def config(
    location: tuple[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A configuration file naming the store of :func:`old_store`."""
    monkeypatch.setenv("CRMSYNC_TEST_SECRET", "secret")
    url, schema = location
    path = tmp_path / "crmsync.yaml"
    path.write_text(
        CONFIG.format(
            url=url, schema=f"  pg_schema: {schema}\n" if schema else "", folder=tmp_path
        ),
        encoding="utf-8",
    )
    return path


def test_a_store_made_before_versions_is_upgraded_with_its_data(
    old_store: sa.Engine, config: Path
) -> None:
    before = store_schema(old_store)
    assert (before.current, before.unversioned) == (None, True)
    assert before.pending[0].version == "0001_baseline"

    shown = CliRunner().invoke(app, ["status", "--config", str(config), "--json"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["workflows"]["inbound"]["reason"] == "fixture"
    contacts = document["mappings"]["contacts"]
    assert contacts["cursor_saved_at"] == OLD_AT
    assert (contacts["counters"]["inserted"], contacts["rejects"], contacts["parked"]) == (2, 1, 1)

    after = store_schema(old_store)
    assert (after.current, after.pending) == (after.head, ())
    (upgrade,) = after.upgrades
    assert (upgrade.from_version, upgrade.to_version) == (None, after.head)
    assert schema_differences(old_store) == []

    state = StateStore(old_store)
    assert state.cursors.load("contacts") == "cursor-0.1.0"
    assert state.cursors.watermark("contacts") == 41
    assert [r.mapping for r in state.replays.pending()] == ["contacts"]
    supervisor = Supervisor(old_store, "version: 1\n", {})
    assert supervisor.revisions.active("inbound") is not None
    assert supervisor.revisions.active("inbound").author == "file"  # type: ignore[union-attr]
    users = UserStore(old_store)
    assert users.verify("ada", "correct horse battery") is not None
    assert len(users.list_tokens("ada")) == 1
    jobs = JobStore(old_store)
    assert jobs.option("nightly.since") == "2025-01-01T00:00:00Z"
    assert [run.job for run in jobs.runs()] == ["nightly"]
    event = Event(type="open", id="open-1", profile_id=1, delivery_id="D-1", occurred_at=OLD_AT)
    assert record_events(old_store, [event]).duplicates == 1


def test_a_store_with_some_tables_gets_the_others(old_store: sa.Engine) -> None:
    """A store made before versions holds the tables of the workflows it ran: the baseline
    creates the missing ones."""
    with old_store.begin() as conn:
        for name in ("crmsync_job_log", "crmsync_job_runs", "crmsync_optout_cursor"):
            conn.execute(sa.text(f"DROP TABLE {name}"))
    ensure_store_schema(old_store)
    assert schema_differences(old_store) == []
    assert JobStore(old_store).runs() == []


def test_a_new_store_gets_every_migration(
    store_engine: sa.Engine,
) -> None:
    ensure_store_schema(store_engine)
    found = store_schema(store_engine)
    assert (found.current, found.unversioned, found.pending) == (found.head, False, ())
    assert schema_differences(store_engine) == []


def test_a_store_upgraded_by_a_newer_crmsync_is_refused_unchanged(
    old_store: sa.Engine, location: tuple[str, str | None], config: Path
) -> None:
    ensure_store_schema(old_store)
    with old_store.begin() as conn:
        conn.execute(sa.text("UPDATE crmsync_schema_version SET version_num = '0042_future'"))
        conn.execute(
            sa.text(
                "INSERT INTO crmsync_schema_upgrades"
                " (from_version, to_version, release, upgraded_at)"
                " VALUES ('0003_drop_fingerprints', '0042_future', '9.1.0', CURRENT_TIMESTAMP)"
            )
        )
    fresh = create_engine_for(location[0], schema=location[1])
    tables = set(sa.inspect(fresh).get_table_names())
    try:
        with pytest.raises(StoreTooNewError) as refused:
            StateStore(fresh)
    finally:
        fresh.dispose()
    message = refused.value.message
    assert "schema version 0042_future" in message
    assert "run crmsync 9.1.0 or newer" in message
    assert (refused.value.version, refused.value.release) == ("0042_future", "9.1.0")

    runner = CliRunner()
    for command in (["status"], ["user", "token", "ada"], ["job", "list"], ["events", "status"]):
        done = runner.invoke(app, [*command, "--config", str(config)])
        assert done.exit_code != 0, command
        assert "0042_future" in " ".join(done.output.split()), (command, done.output)
    upgrade = runner.invoke(app, ["store", "upgrade", "--config", str(config)])
    assert upgrade.exit_code == 3
    assert "9.1.0" in upgrade.output
    published = runner.invoke(app, ["resources", "publish", "--config", str(config)])
    assert published.exit_code == 1
    assert "0042_future" in " ".join(published.output.split())

    fresh = create_engine_for(location[0], schema=location[1])
    try:
        assert set(sa.inspect(fresh).get_table_names()) == tables
        assert store_schema(fresh).current == "0042_future"
    finally:
        fresh.dispose()


def test_without_a_record_of_the_release_the_refusal_says_a_newer_crmsync(
    store_engine: sa.Engine,
) -> None:
    ensure_store_schema(store_engine)
    with store_engine.begin() as conn:
        conn.execute(sa.text("UPDATE crmsync_schema_version SET version_num = '0042_future'"))
        conn.execute(sa.text("DELETE FROM crmsync_schema_upgrades"))
    found = store_schema(store_engine)
    assert found.too_new
    refusal = found.refusal()
    assert "upgraded by a newer crmsync" in refusal.message
    assert refusal.release is None
