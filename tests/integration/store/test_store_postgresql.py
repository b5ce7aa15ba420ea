"""Publish and version-guarded writes on a real PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.errors import ConfigurationError
from crmsync.state import ensure_store_schema
from crmsync.store import (
    DestructiveChangeError,
    ResourceDefinition,
    SchemaChangeKind,
    UpsertResult,
    build_metadata,
    create_engine_for,
    definitions_with_profile,
    delete_by_keys,
    delete_versioned,
    publish,
    upsert_batch,
)
from crmsync.store.key_lists import one_of

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def subscription(*extra: dict[str, Any], **links: Any) -> ResourceDefinition:
    fields = [
        {"name": "crm_id", "type": "string", "length": 36},
        {"name": "owner", "type": "string", "length": 255},
        *extra,
    ]
    return ResourceDefinition.model_validate(
        {
            "name": "subscription",
            "identifier": "crm_id",
            "fields": fields,
            "links": [{"resource": "profile", "field": "owner"} | links],
        }
    )


def tables(*resources: ResourceDefinition) -> dict[str, sa.Table]:
    return dict(build_metadata(definitions_with_profile(resources)).tables)


def test_tables_live_in_the_test_schema(pg_engine: sa.Engine) -> None:
    publish(pg_engine, [subscription()])
    with pg_engine.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        found = conn.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %(s)s",
            {"s": schema},
        ).scalars()
        assert set(found) == {"profile", "subscription", "crmsync_resources"}
    assert schema.startswith("crmsync_test_")


def test_publish_additive_then_no_op(pg_engine: sa.Engine) -> None:
    first = publish(pg_engine, [subscription()])
    assert [c.kind for c in first.changes] == [SchemaChangeKind.CREATE_TABLE] * 2
    assert publish(pg_engine, [subscription()]).is_empty
    added = publish(pg_engine, [subscription({"name": "level", "type": "string"})])
    assert [(c.kind, c.name) for c in added.changes] == [(SchemaChangeKind.ADD_COLUMN, "level")]
    assert publish(pg_engine, [subscription({"name": "level", "type": "string"})]).is_empty


def test_destructive_changes_need_force(pg_engine: sa.Engine) -> None:
    publish(
        pg_engine,
        [subscription({"name": "score", "type": "string"}, {"name": "x", "type": "text"})],
    )
    profile, _sub = tables(subscription()).values()
    with pg_engine.begin() as conn:
        conn.execute(
            sa.insert(profile), [{"external_id": "p1", "created_at": NOW, "modified_at": NOW}]
        )
        conn.execute(
            sa.text(
                "INSERT INTO subscription (crm_id, owner, score, created_at, modified_at) "
                "VALUES ('s1', 'p1', '42', now(), now())"
            )
        )
    changed = subscription({"name": "score", "type": "integer"}, cardinality="1")
    with pytest.raises(DestructiveChangeError) as caught:
        publish(pg_engine, [changed])
    assert len(caught.value.changes) == 4
    plan = publish(pg_engine, [changed], force=True)
    assert {c.kind for c in plan.destructive} == {
        SchemaChangeKind.ALTER_TYPE,
        SchemaChangeKind.SET_NOT_NULL,
        SchemaChangeKind.ALTER_LINK,
        SchemaChangeKind.DROP_COLUMN,
    }
    with pg_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT score FROM subscription").scalar_one() == 42
    assert publish(pg_engine, [changed]).is_empty
    columns = {c["name"]: c for c in sa.inspect(pg_engine).get_columns("subscription")}
    assert not columns["owner"]["nullable"]
    assert "x" not in columns
    with pg_engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM profile")
        assert conn.exec_driver_sql("SELECT count(*) FROM subscription").scalar_one() == 0
    assert [c.kind for c in publish(pg_engine, [], force=True).changes] == [
        SchemaChangeKind.DROP_TABLE
    ]


def test_upsert_version_guard_and_ownership(pg_engine: sa.Engine) -> None:
    publish(pg_engine, [subscription()])
    profile = tables(subscription())["profile"]
    later = NOW + timedelta(days=1)
    with pg_engine.begin() as conn:
        conn.execute(
            sa.insert(profile), [{"email": "manual@x", "created_at": NOW, "modified_at": NOW}]
        )
        assert upsert_batch(
            conn,
            profile,
            "external_id",
            [
                {"external_id": "a", "email": "a@x", "source_version": 5},
                {"external_id": "b", "email": "b@x", "source_version": 5},
            ],
            origin="crm:dv",
            now=NOW,
        ) == UpsertResult(inserted=2)
    with pg_engine.begin() as conn:
        result = upsert_batch(
            conn,
            profile,
            "external_id",
            [
                {"external_id": "a", "email": "a2@x", "source_version": 6},
                {"external_id": "b", "email": "late@x", "source_version": 4},
            ],
            now=later,
        )
    assert result == UpsertResult(updated=1, stale=1)
    with pg_engine.begin() as conn:
        again = upsert_batch(
            conn,
            profile,
            "external_id",
            [{"external_id": "a", "email": "a2@x", "source_version": 6}],
        )
        assert again == UpsertResult(unchanged=1)
        rows = {
            r.external_id: r for r in conn.execute(sa.select(profile).order_by(profile.c.id)).all()
        }
    assert rows["a"].email == "a2@x"
    assert rows["a"].modified_at == later
    assert rows["a"].origin == "crm:dv"
    assert rows["b"].email == "b@x"
    assert rows[None].email == "manual@x"
    with pg_engine.begin() as conn:
        assert delete_by_keys(conn, profile, "external_id", ["a", "b", None]) == 2
        left = conn.execute(sa.select(profile.c.email)).scalars().all()
    assert left == ["manual@x"]


def test_a_versioned_delete_waits_for_and_spares_a_concurrent_newer_write(
    pg_engine: sa.Engine,
) -> None:
    publish(pg_engine, [])
    profile = tables()["profile"]
    with pg_engine.begin() as conn:
        for key in ("a", "b"):
            row = {"external_id": key, "email": f"{key}@x", "source_version": 1}
            upsert_batch(conn, profile, "external_id", [row])
    deleted: list[int] = []

    def delete() -> None:
        with pg_engine.begin() as conn:
            deleted.append(delete_versioned(conn, profile, "external_id", {"a": 5, "b": 5}))

    with pg_engine.begin() as conn:
        # A newer version of "a" (a re-creation) is being written: the delete waits for it.
        row = {"external_id": "a", "email": "again@x", "source_version": 10}
        upsert_batch(conn, profile, "external_id", [row])
        thread = threading.Thread(target=delete)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive()
    thread.join(timeout=10)
    assert deleted == [1]
    with pg_engine.connect() as conn:
        left = conn.execute(sa.select(profile.c.external_id, profile.c.email)).all()
    assert left == [("a", "again@x")]


def test_datetimes_keep_their_instant(pg_engine: sa.Engine) -> None:
    publish(pg_engine, [])
    profile = tables()["profile"]
    changed = datetime(2026, 10, 25, 2, 30, tzinfo=timezone(timedelta(hours=2)))
    with pg_engine.begin() as conn:
        upsert_batch(
            conn,
            profile,
            "external_id",
            [
                {
                    "external_id": "a",
                    "optout_email": True,
                    "optout_email_changed_at": changed,
                    "source_version": 1,
                }
            ],
        )
        read = conn.execute(sa.select(profile.c.optout_email_changed_at)).scalar_one()
    assert read == changed
    assert read.utcoffset() == timedelta(0)


def test_large_batch(pg_engine: sa.Engine) -> None:
    publish(pg_engine, [])
    profile = tables()["profile"]
    rows = [{"external_id": f"id{i}", "email": f"{i}@x", "source_version": 1} for i in range(5000)]
    with pg_engine.begin() as conn:
        assert upsert_batch(conn, profile, "external_id", rows).inserted == 5000
    rows[10] = {"external_id": "id10", "email": "new@x", "source_version": 2}
    with pg_engine.begin() as conn:
        result = upsert_batch(conn, profile, "external_id", rows)
    assert result == UpsertResult(updated=1, unchanged=4999)


def test_key_lists_match_text_numbers_and_dates(pg_engine: sa.Engine) -> None:
    t = sa.Table(
        "keyed",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50)),
        sa.Column("born", sa.Date),
    )
    hostile = ["o'brien", 'say "hi"', "ünïcødé ✓", "50%_off", "a\\b", ""]
    with pg_engine.begin() as conn:
        t.create(conn)
        conn.execute(
            t.insert(),
            [
                {"id": n, "name": name, "born": date(2000, 1, n + 1)}
                for n, name in enumerate(hostile)
            ],
        )

    def ids(column: str, keys: list[Any]) -> set[int]:
        with pg_engine.connect() as conn:
            return set(
                conn.scalars(sa.select(t.c.id).where(one_of(t.c[column], keys, conn.dialect)))
            )

    assert ids("name", [*hostile, "missing"]) == set(range(len(hostile)))
    assert ids("id", [1, 3, 99]) == {1, 3}
    assert ids("born", [date(2000, 1, 2), date(1999, 1, 1)]) == {1}
    assert ids("name", []) == set()


def test_a_schema_that_does_not_exist_is_named_and_nothing_is_made(postgres_url: str) -> None:
    missing = f"crmsync_missing_{uuid.uuid4().hex[:8]}"
    engine = create_engine_for(postgres_url, schema=missing)
    try:
        with pytest.raises(ConfigurationError, match=rf"search path: {missing}\): create it"):
            ensure_store_schema(engine)
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT count(*) FROM pg_namespace WHERE nspname = :name"),
                {"name": missing},
            )
            assert found.scalar_one() == 0
    finally:
        engine.dispose()
