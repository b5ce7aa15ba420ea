"""Every edit of a captured Campaign table is logged, whoever makes it (the database's own
command-line client included), with the changed columns only; crmsync's own writes, edits that
change nothing and rows no CRM record owns are not (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crmsync.state import ensure_store_schema
from crmsync.store.errors import StoreDefinitionError
from crmsync.store.publish import publish
from crmsync.store.resources import FieldDefinition, ResourceDefinition
from crmsync.store.types import CampaignType
from crmsync.twoway import (
    crmsync_writes,
    forget_changes,
    install_capture,
    read_changes,
    remove_capture,
)

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
SUBSCRIPTION = ResourceDefinition(
    name="subscription",
    identifier="crm_id",
    fields=(
        FieldDefinition(name="crm_id", type=CampaignType.STRING, length=64, unique=True),
        FieldDefinition(name="level", type=CampaignType.INTEGER),
        FieldDefinition(name="active", type=CampaignType.BOOLEAN),
    ),
)


@pytest.fixture
def store(store_engine: sa.Engine) -> sa.Engine:
    """A store with ``profile`` and ``subscription`` published, their edits captured, and two
    profiles written by crmsync (one owned by a CRM record, one not)."""
    ensure_store_schema(store_engine)
    publish(store_engine, [SUBSCRIPTION])
    install_capture(store_engine, "profile", ["email", "first_name", "city"], key="external_id")
    install_capture(store_engine, "subscription", ["level", "active"], key="crm_id")
    rows = [
        {"external_id": "C-1", "email": "ada@example.com", "first_name": "Ada"},
        {"external_id": None, "email": "own@example.com", "first_name": "Own"},
    ]
    with store_engine.begin() as conn, crmsync_writes(conn):
        conn.execute(
            sa.text(
                "INSERT INTO profile (external_id, email, first_name, created_at, modified_at)"
                " VALUES (:external_id, :email, :first_name, :at, :at)"
            ).bindparams(sa.bindparam("at", type_=sa.DateTime(timezone=True))),
            [{**row, "at": NOW} for row in rows],
        )
    return store_engine


def database_client(engine: sa.Engine, sql: str) -> None:
    """Run ``sql`` with the database's own command-line client (``sqlite3`` or ``psql``), as a
    person editing the store by hand would."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        command = ["sqlite3", "-bail", str(url.database), sql]
    else:
        with engine.connect() as conn:
            schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        command = ["psql", "-v", "ON_ERROR_STOP=1", "-X", "-q", plain, "-c",
                   f"SET search_path TO {schema}; {sql}"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


def test_an_update_by_the_database_client_is_logged_with_the_changed_columns(
    store: sa.Engine,
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    database_client(
        store,
        "UPDATE profile SET email = 'ada@lovelace.example', first_name = 'Ada', city = 'London'"
        " WHERE external_id = 'C-1'",
    )
    (change,) = read_changes(store)
    assert (change.resource, change.record_key, change.operation) == ("profile", "C-1", "update")
    assert change.old == {"email": "ada@example.com", "city": None}
    assert change.new == {"email": "ada@lovelace.example", "city": "London"}
    assert before <= change.edited_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert change.edited_at.tzinfo is UTC


def test_an_update_that_changes_nothing_is_not_logged(store: sa.Engine) -> None:
    database_client(store, "UPDATE profile SET email = email, city = NULL")
    database_client(store, "UPDATE profile SET last_name = 'Lovelace'")  # not captured
    assert read_changes(store) == []


def test_a_row_no_crm_record_owns_is_not_logged(store: sa.Engine) -> None:
    database_client(store, "UPDATE profile SET city = 'Paris' WHERE external_id IS NULL")
    database_client(
        store,
        "INSERT INTO profile (email, created_at, modified_at)"
        " VALUES ('new@example.com', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )
    assert read_changes(store) == []


def test_crmsync_own_writes_are_not_logged_but_others_in_the_same_transaction_are(
    store: sa.Engine,
) -> None:
    with store.begin() as conn:
        with crmsync_writes(conn):
            conn.execute(sa.text("UPDATE profile SET city = 'Turin' WHERE external_id = 'C-1'"))
        conn.execute(sa.text("UPDATE profile SET email = 'after@example.com'"))
    with store.begin() as conn:
        conn.execute(sa.text("UPDATE profile SET first_name = 'Augusta'"))
    changes = read_changes(store)
    assert [(c.old, c.new) for c in changes] == [
        ({"email": "ada@example.com"}, {"email": "after@example.com"}),
        ({"first_name": "Ada"}, {"first_name": "Augusta"}),
    ]


def test_inserts_on_a_custom_resource_are_logged_and_the_log_is_read_in_order(
    store: sa.Engine,
) -> None:
    database_client(
        store,
        "INSERT INTO subscription (crm_id, level, created_at, modified_at)"
        " VALUES ('S-1', 3, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )
    database_client(store, "UPDATE subscription SET level = 4 WHERE crm_id = 'S-1'")
    database_client(store, "UPDATE subscription SET active = true WHERE crm_id = 'S-1'")
    first, second, third = read_changes(store)
    assert (first.operation, first.old, first.new) == ("insert", {"level": None}, {"level": 3})
    assert (second.old, second.new) == ({"level": 3}, {"level": 4})
    assert third.old == {"active": None}
    assert third.new["active"] in (True, 1)  # JSON as each database renders a boolean
    assert first.id < second.id < third.id

    assert [c.id for c in read_changes(store, after_id=first.id, limit=1)] == [second.id]
    assert forget_changes(store, second.id) == 2
    assert [c.id for c in read_changes(store)] == [third.id]
    database_client(store, "UPDATE subscription SET level = 5")
    (fourth,) = read_changes(store, after_id=third.id)
    assert fourth.id > third.id


def test_a_change_committed_after_a_later_one_is_read_after_it(store: sa.Engine) -> None:
    """The log is read by the order of commits: a transaction that wrote first but commits last
    is not skipped by a consumer that already read past the other."""
    with store.connect() as slow:
        slow_tx = slow.begin()
        if store.dialect.name == "postgresql":  # SQLite lets one writer in at a time
            slow.execute(sa.text("UPDATE profile SET city = 'Slow' WHERE external_id = 'C-1'"))
            database_client(
                store,
                "INSERT INTO subscription (crm_id, level, created_at, modified_at)"
                " VALUES ('S-2', 7, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            )
            (fast,) = read_changes(store)
            assert fast.record_key == "S-2"
        else:
            fast = None
            slow.execute(sa.text("UPDATE profile SET city = 'Slow' WHERE external_id = 'C-1'"))
        slow_tx.commit()
    after = 0 if fast is None else fast.id
    (late,) = read_changes(store, after_id=after)
    assert (late.record_key, late.new) == ("C-1", {"city": "Slow"})


def test_install_is_idempotent_and_remove_stops_the_capture(store: sa.Engine) -> None:
    install_capture(store, "profile", ["email", "first_name", "city"], key="external_id")
    install_capture(store, "profile", ["city"], key="external_id")
    database_client(store, "UPDATE profile SET city = 'Oslo', email = 'x@example.com'")
    (change,) = read_changes(store)
    assert change.new == {"city": "Oslo"}  # one trigger, with the columns given last

    remove_capture(store, "profile")
    remove_capture(store, "profile")
    database_client(store, "UPDATE profile SET city = 'Rome'")
    assert read_changes(store, after_id=change.id) == []


def test_a_missing_table_or_column_is_refused_with_its_name(store: sa.Engine) -> None:
    with pytest.raises(StoreDefinitionError, match="'nothing': the store has no such table"):
        install_capture(store, "nothing", ["email"], key="external_id")
    with pytest.raises(StoreDefinitionError, match="no column 'nickname'"):
        install_capture(store, "profile", ["email", "nickname"], key="external_id")
    with pytest.raises(StoreDefinitionError, match="only Campaign resource tables"):
        install_capture(store, "crmsync_cursors", ["cursor"], key="mapping")
    with pytest.raises(StoreDefinitionError, match="no columns"):
        install_capture(store, "profile", [], key="external_id")
