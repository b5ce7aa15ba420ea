from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.store.engine import create_engine_for
from crmsync.store.errors import DestructiveChangeError
from crmsync.store.publish import SchemaChangeKind, plan_publish, publish
from crmsync.store.resources import ResourceDefinition

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def subscription(*extra: dict[str, Any], **links: Any) -> ResourceDefinition:
    fields = [
        {"name": "crm_id", "type": "string", "length": 36},
        {"name": "owner", "type": "string", "length": 255},
        *extra,
    ]
    link = {"resource": "profile", "field": "owner"} | links
    return ResourceDefinition.model_validate(
        {"name": "subscription", "identifier": "crm_id", "fields": fields, "links": [link]}
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


def kinds(plan: Any) -> list[tuple[str, str, str | None]]:
    return [(c.kind.value, c.table, c.name) for c in plan.changes]


def insert(engine: sa.Engine, table: str, **values: Any) -> None:
    metadata = sa.MetaData()
    target = sa.Table(table, metadata, autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(target), [{"created_at": NOW, "modified_at": NOW} | values])


def column_names(engine: sa.Engine, table: str) -> list[str]:
    return [c["name"] for c in sa.inspect(engine).get_columns(table)]


def test_first_publish_creates_profile_and_resources(engine: sa.Engine) -> None:
    plan = publish(engine, [subscription()])
    assert kinds(plan) == [
        ("create_table", "profile", None),
        ("create_table", "subscription", None),
    ]
    assert not plan.destructive
    inspector = sa.inspect(engine)
    assert {"profile", "subscription", "crmsync_resources"} <= set(inspector.get_table_names())
    indexes = {i["name"]: i for i in inspector.get_indexes("subscription")}
    assert indexes["uq_subscription_crm_id"]["unique"]
    assert not indexes["ix_subscription_owner"]["unique"]
    (fk,) = inspector.get_foreign_keys("subscription")
    assert fk["referred_table"] == "profile"
    assert fk["referred_columns"] == ["external_id"]


def test_publishing_twice_is_a_no_op(engine: sa.Engine) -> None:
    publish(engine, [subscription()])
    assert publish(engine, [subscription()]).is_empty


def test_dry_run_changes_nothing(engine: sa.Engine, tmp_path: Path) -> None:
    plan = publish(engine, [subscription()], dry_run=True)
    assert len(plan.changes) == 2
    assert list(tmp_path.iterdir()) == []  # not even an empty database file
    assert sa.inspect(engine).get_table_names() == []


def test_additive_changes_are_applied_and_keep_data(engine: sa.Engine) -> None:
    publish(engine, [subscription()])
    insert(engine, "subscription", crm_id="s1")
    plan = publish(
        engine,
        [
            subscription(
                {"name": "level", "type": "string"},
                {"name": "code", "type": "string", "unique": True},
            )
        ],
    )
    assert kinds(plan) == [
        ("add_column", "subscription", "level"),
        ("add_column", "subscription", "code"),
        ("add_index", "subscription", "uq_subscription_code"),
    ]
    assert "level" in column_names(engine, "subscription")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT crm_id FROM subscription").scalar_one() == "s1"


def test_destructive_changes_are_refused_and_listed(engine: sa.Engine) -> None:
    publish(engine, [subscription({"name": "level", "type": "string"})])
    changed = subscription({"name": "level", "type": "integer"}, cardinality="1")
    with pytest.raises(DestructiveChangeError) as caught:
        publish(engine, [changed])
    text = str(caught.value)
    assert "alter type subscription.level (string → integer" in text
    assert "set not null subscription.owner" in text
    assert "--force" in text
    assert len(caught.value.changes) == 3  # type, nullability, link
    # Nothing was applied, not even the additive part.
    assert sa.inspect(engine).get_columns("subscription")[2]["nullable"]


def test_dropped_column_and_table_are_destructive(engine: sa.Engine) -> None:
    publish(engine, [subscription({"name": "level", "type": "string"})])
    plan = publish(engine, [subscription()], dry_run=True)
    assert [c.kind for c in plan.destructive] == [SchemaChangeKind.DROP_COLUMN]
    plan = publish(engine, [], dry_run=True)
    assert [(c.kind, c.table) for c in plan.destructive] == [
        (SchemaChangeKind.DROP_TABLE, "subscription")
    ]


def test_force_rebuilds_sqlite_tables_keeping_rows(engine: sa.Engine) -> None:
    publish(
        engine,
        [subscription({"name": "level", "type": "string"}, {"name": "score", "type": "string"})],
    )
    insert(engine, "profile", external_id="p1")
    insert(engine, "subscription", crm_id="s1", owner="p1", level="gold", score="42")
    changed = subscription({"name": "score", "type": "integer"}, cardinality="1")
    plan = publish(engine, [changed], force=True)
    assert {c.kind for c in plan.destructive} == {
        SchemaChangeKind.DROP_COLUMN,
        SchemaChangeKind.ALTER_TYPE,
        SchemaChangeKind.SET_NOT_NULL,
        SchemaChangeKind.ALTER_LINK,
    }
    assert column_names(engine, "subscription")[:4] == ["id", "crm_id", "owner", "score"]
    with engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT crm_id, owner, score FROM subscription").one()
        assert tuple(row) == ("s1", "p1", 42)
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("subscription")}
    assert indexes == {"uq_subscription_crm_id", "ix_subscription_owner"}
    assert publish(engine, [changed]).is_empty
    # The rebuilt table still cascades along its link.
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM profile")
        assert conn.exec_driver_sql("SELECT count(*) FROM subscription").scalar_one() == 0


def test_forced_not_null_with_missing_values_rolls_back(engine: sa.Engine) -> None:
    publish(engine, [subscription()])
    insert(engine, "subscription", crm_id="orphan")
    with pytest.raises(sa.exc.IntegrityError):
        publish(engine, [subscription(cardinality="1")], force=True)
    assert sa.inspect(engine).get_columns("subscription")[2]["nullable"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM subscription").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_keep_link_empties_children(engine: sa.Engine) -> None:
    publish(engine, [subscription(on_parent_delete="keep")])
    insert(engine, "profile", external_id="p1")
    insert(engine, "subscription", crm_id="s1", owner="p1")
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM profile")
        assert conn.exec_driver_sql("SELECT owner FROM subscription").one() == (None,)


def test_foreign_table_columns_are_reported_for_adopted_tables(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE subscription (id INTEGER PRIMARY KEY, legacy TEXT)")
    with engine.connect() as conn:
        plan = plan_publish(conn, [subscription()])
    assert ("drop_column", "subscription", "legacy") in kinds(plan)
    assert ("add_column", "subscription", "crm_id") in kinds(plan)


def test_string_defaults_are_rendered_as_literals(engine: sa.Engine) -> None:
    hostile = "x'); DROP TABLE profile; --"
    publish(engine, [subscription({"name": "note", "type": "string", "default": hostile})])
    insert(engine, "subscription", crm_id="s1")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT note FROM subscription").scalar_one() == hostile
    assert "profile" in sa.inspect(engine).get_table_names()


def test_required_column_without_default_is_destructive(engine: sa.Engine) -> None:
    publish(engine, [subscription()])
    plan = publish(
        engine, [subscription({"name": "must", "type": "integer", "nullable": False})], dry_run=True
    )
    assert [c.kind for c in plan.changes] == [SchemaChangeKind.ADD_REQUIRED_COLUMN]
    with_default = subscription(
        {"name": "must", "type": "integer", "nullable": False, "default": 0}
    )
    assert [c.kind for c in publish(engine, [with_default]).changes] == [
        SchemaChangeKind.ADD_COLUMN
    ]


def test_a_store_without_the_digest_columns_gets_them_keeping_its_rows(engine: sa.Engine) -> None:
    """Stores published before rows held their record's digest: publishing (which the engine
    does at start) adds the two bookkeeping columns."""
    publish(engine, [])
    insert(engine, "profile", external_id="a", email="a@x", source_version=3)
    with engine.begin() as conn:
        for column in ("source_digest", "synced_at"):
            conn.exec_driver_sql(f"ALTER TABLE profile DROP COLUMN {column}")
    plan = publish(engine, [])
    assert kinds(plan) == [
        ("add_column", "profile", "source_digest"),
        ("add_column", "profile", "synced_at"),
    ]
    assert not plan.destructive
    with engine.connect() as conn:
        row = conn.execute(sa.text("select email, source_version, source_digest from profile"))
        assert row.one() == ("a@x", 3, None)
