from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.store.engine import create_engine_for
from crmsync.store.errors import StoreWriteError
from crmsync.store.publish import publish
from crmsync.store.resources import ResourceDefinition
from crmsync.store.tables import build_metadata, definitions_with_profile
from crmsync.store.writes import UpsertResult, delete_by_keys, delete_versioned, upsert_batch

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)

SUBSCRIPTION = ResourceDefinition.model_validate(
    {
        "name": "subscription",
        "identifier": "crm_id",
        "fields": [
            {"name": "crm_id", "type": "string", "length": 36},
            {"name": "owner", "type": "string", "length": 255},
            {"name": "level", "type": "string"},
        ],
        "links": [{"resource": "profile", "field": "owner"}],
    }
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    publish(engine, [SUBSCRIPTION])
    yield engine
    engine.dispose()


@pytest.fixture
def tables() -> dict[str, sa.Table]:
    return dict(build_metadata(definitions_with_profile([SUBSCRIPTION])).tables)


@pytest.fixture
def writes(engine: sa.Engine) -> list[str]:
    """Every INSERT/UPDATE/DELETE statement sent to the database."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    return seen


def _profiles(engine: sa.Engine, table: sa.Table) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table)).mappings()
        return {row["external_id"]: dict(row) for row in rows if row["external_id"]}


def _upsert(engine: sa.Engine, table: sa.Table, rows: list[dict[str, Any]], **kw: Any) -> Any:
    with engine.begin() as conn:
        return upsert_batch(conn, table, "external_id", rows, **kw)


def test_insert_then_update_only_when_newer(engine: sa.Engine, tables: dict[str, sa.Table]) -> None:
    profile = tables["profile"]
    first = _upsert(
        engine,
        profile,
        [
            {"external_id": "a", "email": "a@x", "source_version": 10},
            {"external_id": "b", "email": "b@x", "source_version": 10},
        ],
        origin="crm:dv",
        now=T0,
    )
    assert first == UpsertResult(inserted=2)
    second = _upsert(
        engine,
        profile,
        [
            {"external_id": "a", "email": "new@x", "source_version": 11},  # newer: applied
            {"external_id": "b", "email": "old@x", "source_version": 9},  # late: ignored
        ],
        origin="crm:other",
        now=T1,
    )
    assert second == UpsertResult(updated=1, stale=1)
    rows = _profiles(engine, profile)
    assert rows["a"]["email"] == "new@x"
    assert rows["a"]["source_version"] == 11
    assert rows["a"]["modified_at"] == T1
    assert rows["a"]["created_at"] == T0
    assert rows["a"]["origin"] == "crm:dv"  # the creator is kept
    assert rows["b"]["email"] == "b@x"
    assert rows["b"]["source_version"] == 10
    assert rows["b"]["modified_at"] == T0


def test_duplicate_costs_no_write(
    engine: sa.Engine, tables: dict[str, sa.Table], writes: list[str]
) -> None:
    row = {"external_id": "a", "email": "a@x", "source_version": 5}
    _upsert(engine, tables["profile"], [row])
    writes.clear()
    assert _upsert(engine, tables["profile"], [row]) == UpsertResult(unchanged=1)
    assert writes == []


def test_newer_version_with_same_values_only_advances_the_version(
    engine: sa.Engine, tables: dict[str, sa.Table]
) -> None:
    profile = tables["profile"]
    _upsert(engine, profile, [{"external_id": "a", "email": "a@x", "source_version": 1}], now=T0)
    same = _upsert(
        engine, profile, [{"external_id": "a", "email": "a@x", "source_version": 3}], now=T1
    )
    assert same == UpsertResult(unchanged=1, version_only=1)
    assert same.written == 0
    # A message of version 2 arriving late is stale although its values differ.
    late = _upsert(engine, profile, [{"external_id": "a", "email": "b@x", "source_version": 2}])
    assert late == UpsertResult(stale=1)
    row = _profiles(engine, profile)["a"]
    assert (row["email"], row["source_version"], row["modified_at"]) == ("a@x", 3, T0)


def test_same_version_with_new_values_is_applied(
    engine: sa.Engine, tables: dict[str, sa.Table]
) -> None:
    """A replay after a mapping change carries the same version and more fields."""
    profile = tables["profile"]
    _upsert(engine, profile, [{"external_id": "a", "email": "a@x", "source_version": 1}])
    replay = _upsert(engine, profile, [{"external_id": "a", "email": "b@x", "source_version": 1}])
    assert replay == UpsertResult(updated=1)


def test_out_of_order_delivery_converges(engine: sa.Engine, tables: dict[str, sa.Table]) -> None:
    profile = tables["profile"]
    versions = [{"external_id": "a", "email": f"v{v}@x", "source_version": v} for v in (1, 2, 3)]
    for row in (versions[2], versions[0], versions[1], versions[2]):
        _upsert(engine, profile, [row])
    assert _profiles(engine, profile)["a"]["email"] == "v3@x"


def test_duplicates_within_a_batch_keep_the_newest(
    engine: sa.Engine, tables: dict[str, sa.Table]
) -> None:
    result = _upsert(
        engine,
        tables["profile"],
        [
            {"external_id": "a", "email": "2@x", "source_version": 2},
            {"external_id": "a", "email": "1@x", "source_version": 1},
        ],
    )
    assert result == UpsertResult(inserted=1, unchanged=1)
    assert _profiles(engine, tables["profile"])["a"]["email"] == "2@x"


def test_insert_only_fields_are_not_updated(engine: sa.Engine, tables: dict[str, sa.Table]) -> None:
    profile = tables["profile"]
    _upsert(
        engine,
        profile,
        [{"external_id": "a", "email": "a@x", "first_name": "Ann", "source_version": 1}],
        insert_only={"first_name"},
    )
    result = _upsert(
        engine,
        profile,
        [{"external_id": "a", "email": "a@x", "first_name": "Anna", "source_version": 2}],
        insert_only={"first_name"},
    )
    assert result == UpsertResult(unchanged=1, version_only=1)
    assert _profiles(engine, profile)["a"]["first_name"] == "Ann"


def test_existing_profile_with_the_crm_id_is_adopted(
    engine: sa.Engine, tables: dict[str, sa.Table]
) -> None:
    profile = tables["profile"]
    with engine.begin() as conn:
        conn.execute(
            sa.insert(profile),
            [{"external_id": "a", "email": "api@x", "created_at": T0, "modified_at": T0}],
        )
    result = _upsert(engine, profile, [{"external_id": "a", "email": "a@x", "source_version": 1}])
    assert result == UpsertResult(updated=1)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(profile)).scalar_one() == 1


def test_large_batches_are_split(engine: sa.Engine, tables: dict[str, sa.Table]) -> None:
    rows = [
        {"external_id": f"id{i}", "email": f"{i}@x", "first_name": "n", "source_version": 1}
        for i in range(12_000)
    ]
    assert _upsert(engine, tables["profile"], rows).inserted == 12_000
    rows[5]["email"] = "changed@x"
    rows[5]["source_version"] = 2
    assert _upsert(engine, tables["profile"], rows) == UpsertResult(updated=1, unchanged=11_999)


def test_batch_is_one_transaction(engine: sa.Engine, tables: dict[str, sa.Table]) -> None:
    subscription = tables["subscription"]
    with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        upsert_batch(
            conn,
            subscription,
            "crm_id",
            [
                {"crm_id": "s1", "owner": None, "level": "x", "source_version": 1},
                {"crm_id": "s2", "owner": "missing-parent", "level": "x", "source_version": 1},
            ],
        )
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(subscription)).scalar() == 0


_OK = {"external_id": "z", "email": "z", "source_version": 1}


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([_OK, {"email": "a@x", "source_version": 1}], "row 1 has fields"),
        ([{"external_id": None, "email": "a", "source_version": 1}], "no value for key field"),
        ([{"external_id": "a", "email": "a", "source_version": None}], "no value for version"),
        ([{"external_id": "a", "emial": "a", "source_version": 1}], "unknown or managed"),
        ([{"external_id": "a", "origin": "api", "source_version": 1}], "unknown or managed"),
    ],
)
def test_malformed_batches_are_refused(
    engine: sa.Engine, tables: dict[str, sa.Table], batch: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(StoreWriteError, match=message):
        _upsert(engine, tables["profile"], batch)


def test_unknown_key_field_is_refused(engine: sa.Engine, tables: dict[str, sa.Table]) -> None:
    with engine.begin() as conn, pytest.raises(StoreWriteError, match="unknown key field"):
        upsert_batch(conn, tables["profile"], "nope", [{"email": "x", "source_version": 1}])


def test_without_version_guard_values_decide(
    engine: sa.Engine, tables: dict[str, sa.Table]
) -> None:
    profile = tables["profile"]
    with engine.begin() as conn:
        upsert_batch(conn, profile, "external_id", [{"external_id": "a", "email": "1"}], None)
        same = upsert_batch(
            conn, profile, "external_id", [{"external_id": "a", "email": "1"}], None
        )
        new = upsert_batch(conn, profile, "external_id", [{"external_id": "a", "email": "2"}], None)
    assert same == UpsertResult(unchanged=1)
    assert new == UpsertResult(updated=1)


def test_delete_only_touches_crm_owned_rows(engine: sa.Engine, tables: dict[str, sa.Table]) -> None:
    profile, subscription = tables["profile"], tables["subscription"]
    _upsert(engine, profile, [{"external_id": "a", "email": "a@x", "source_version": 1}])
    with engine.begin() as conn:
        conn.execute(
            sa.insert(profile), [{"email": "manual@x", "created_at": T0, "modified_at": T0}]
        )
        upsert_batch(
            conn,
            subscription,
            "crm_id",
            [{"crm_id": "s1", "owner": "a", "level": "gold", "source_version": 1}],
        )
        deleted = delete_by_keys(conn, profile, "external_id", ["a", None, "unknown", "a"])
    assert deleted == 1
    with engine.connect() as conn:
        left = conn.execute(sa.select(profile.c.email)).scalars().all()
        children = conn.execute(sa.select(sa.func.count()).select_from(subscription)).scalar()
    assert left == ["manual@x"]
    assert children == 0  # cascade along the link


def test_deletes_as_of_a_version_keep_newer_rows(
    engine: sa.Engine, tables: dict[str, sa.Table]
) -> None:
    profile = tables["profile"]
    rows = [
        {"external_id": k, "email": f"{k}@x", "source_version": v}
        for k, v in (("a", 10), ("b", 5), ("c", 7))
    ]
    _upsert(engine, profile, rows)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(profile), [{"email": "manual@x", "created_at": T0, "modified_at": T0}]
        )
        deleted = delete_versioned(conn, profile, "external_id", {"a": 5, "b": 5, "c": 8, "x": 1})
    assert deleted == 2
    assert set(_profiles(engine, profile)) == {"a"}  # newer than its delete
    with engine.begin() as conn:
        assert delete_versioned(conn, profile, "external_id", {}) == 0
        assert conn.scalar(sa.select(sa.func.count()).select_from(profile)) == 2


def test_empty_batches_do_nothing(engine: sa.Engine, tables: dict[str, sa.Table]) -> None:
    with engine.begin() as conn:
        assert upsert_batch(conn, tables["profile"], "external_id", []) == UpsertResult()
        assert delete_by_keys(conn, tables["profile"], "external_id", []) == 0


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations([1, 2, 3, 4, 5, 3, 5]), batch=st.integers(1, 4))
def test_any_delivery_order_converges_on_the_newest(
    engine: sa.Engine, tables: dict[str, sa.Table], order: list[int], batch: int
) -> None:
    profile = tables["profile"]
    with engine.begin() as conn:
        conn.execute(sa.delete(profile))
    messages = [{"external_id": "k", "email": f"v{v}", "source_version": v} for v in order]
    for start in range(0, len(messages), batch):
        _upsert(engine, profile, messages[start : start + batch])
    row = _profiles(engine, profile)["k"]
    assert (row["email"], row["source_version"]) == ("v5", 5)


def test_rows_in_the_drivers_form_are_written_and_compared_as_stored(
    engine: sa.Engine, tables: dict[str, sa.Table], writes: list[str]
) -> None:
    profile = tables["profile"]
    python = {"external_id": "a", "birth_date": date(1990, 5, 17), "optout_email": True}
    # SQLite's driver takes dates as text and booleans as integers.
    driver = {"external_id": "a", "birth_date": "1990-05-17", "optout_email": 1}
    first = _upsert(engine, profile, [driver | {"source_version": 1}], driver_form=True)
    assert first.inserted == 1
    stored = _profiles(engine, profile)["a"]
    assert (stored["birth_date"], stored["optout_email"]) == (date(1990, 5, 17), True)
    writes.clear()
    again = _upsert(engine, profile, [driver | {"source_version": 1}], driver_form=True)
    same = _upsert(engine, profile, [python | {"source_version": 1}])
    assert (again.unchanged, same.unchanged) == (1, 1)
    assert writes == []
    changed = driver | {"birth_date": "1991-01-02", "source_version": 2}
    assert _upsert(engine, profile, [changed], driver_form=True).updated == 1
    assert _profiles(engine, profile)["a"]["birth_date"] == date(1991, 1, 2)


T2 = datetime(2026, 1, 3, tzinfo=UTC)


def _digest_of(engine: sa.Engine, table: sa.Table, key: str) -> tuple[Any, ...]:
    row = _profiles(engine, table)[key]
    return row["source_digest"], row["synced_at"], row["modified_at"], row["email"]


def test_a_digest_is_written_with_its_row_and_is_no_change_of_values(
    engine: sa.Engine, tables: dict[str, sa.Table], writes: list[str]
) -> None:
    profile = tables["profile"]
    row = {"external_id": "a", "email": "a@x", "source_version": 1, "source_digest": 11}
    assert _upsert(engine, profile, [row], now=T0).inserted == 1
    assert _digest_of(engine, profile, "a") == (11, T0, T0, "a@x")
    # A row written without a digest has none.
    _upsert(engine, profile, [{"external_id": "b", "email": "b@x", "source_version": 1}])
    assert _profiles(engine, profile)["b"]["source_digest"] is None

    writes.clear()
    assert _upsert(engine, profile, [row], now=T1) == UpsertResult(unchanged=1)
    assert writes == []  # the same values, version and digest: nothing to write

    # The same values and version with another digest (the mapping changed): the digest is
    # written, the values are not modified.
    assert _upsert(engine, profile, [row | {"source_digest": 12}], now=T1) == UpsertResult(
        unchanged=1
    )
    assert _digest_of(engine, profile, "a") == (12, T1, T0, "a@x")
    assert len(writes) == 1


def test_a_digest_no_longer_held_is_written_again(
    engine: sa.Engine, tables: dict[str, sa.Table]
) -> None:
    """A row modified after its digest was written does not hold it; when the record comes
    again with the same values, the digest is written again (and holds again)."""
    profile = tables["profile"]
    row = {"external_id": "a", "email": "a@x", "source_version": 1, "source_digest": 11}
    _upsert(engine, profile, [row], now=T0)
    with engine.begin() as conn:
        conn.execute(profile.update().values(modified_at=T1))
    assert _upsert(engine, profile, [row], now=T2) == UpsertResult(unchanged=1)
    assert _digest_of(engine, profile, "a") == (11, T2, T1, "a@x")
    # A stale row writes nothing, its digest included.
    assert _upsert(engine, profile, [row | {"source_version": 0, "source_digest": 9}]).stale == 1
    assert _digest_of(engine, profile, "a") == (11, T2, T1, "a@x")


def test_the_digest_and_its_time_are_the_stores_own(
    engine: sa.Engine, tables: dict[str, sa.Table]
) -> None:
    row = {"external_id": "a", "email": "a@x", "source_version": 1, "synced_at": T0}
    with pytest.raises(StoreWriteError, match="synced_at"):
        _upsert(engine, tables["profile"], [row])
