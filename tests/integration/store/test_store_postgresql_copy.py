"""The PostgreSQL write path (binary COPY into a temporary table, one guarded merge) on a real
server: every value round-trips, the guards and counts are those of the upsert of one row (the
same batches give the same counts and rows as on SQLite), and a repeated batch writes nothing."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.state import ensure_store_schema
from crmsync.store import (
    ResourceDefinition,
    UpsertResult,
    build_metadata,
    create_engine_for,
    definitions_with_profile,
    publish,
    upsert_batch,
)
from crmsync.twoway.capture import crmsync_writes, install_capture, read_changes

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)

KINDS = ResourceDefinition.model_validate(
    {
        "name": "kinds",
        "identifier": "crm_id",
        "fields": [
            {"name": "crm_id", "type": "string", "length": 36},
            {"name": "name", "type": "string", "length": 50},
            {"name": "notes", "type": "text"},
            {"name": "amount", "type": "integer"},
            {"name": "flag", "type": "boolean"},
            {"name": "ratio", "type": "float"},
            {"name": "price", "type": "double"},
            {"name": "born", "type": "date"},
            {"name": "seen", "type": "datetime"},
        ],
    }
)
VALUES = ("name", "notes", "amount", "flag", "ratio", "price", "born", "seen")


def kinds_table() -> sa.Table:
    return build_metadata(definitions_with_profile([KINDS])).tables["kinds"]


@pytest.fixture
def pg(pg_engine: sa.Engine) -> sa.Engine:
    publish(pg_engine, [KINDS])
    return pg_engine


def row(key: str, version: int, **values: Any) -> dict[str, Any]:
    return {"crm_id": key, "source_version": version, **dict.fromkeys(VALUES), **values}


def write(
    engine: sa.Engine, rows: Sequence[Mapping[str, Any]], *, now: datetime = NOW, **options: Any
) -> UpsertResult:
    with engine.begin() as conn:
        return upsert_batch(conn, kinds_table(), "crm_id", rows, now=now, **options)


def stored(engine: sa.Engine, *columns: str) -> dict[str, tuple[Any, ...]]:
    t = kinds_table()
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.crm_id, *(t.c[c] for c in columns))).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def versions_of_rows(engine: sa.Engine) -> dict[str, str]:
    """Each row's ``xmin``: the transaction that wrote its current version (any write moves it)."""
    with engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT crm_id, xmin::text FROM kinds").all())


HOSTILE = [
    "tab\there",
    "new\nline and carriage\rreturn",
    "back\\slash \\N \\. and \\\\",
    "quotes ' \" and ;-- comment",
    "ünïcødé ✓ 🚀",
    "",
    "\\x00 as text",
]


def test_hostile_values_nulls_and_every_type_round_trip(pg: sa.Engine) -> None:
    big = "x" * 1_000_000 + "\t\n\\"
    document = '{"a": "b\\n\\t", "c": [1, null, true], "d": {"e": "\\\\"}}'
    rows = [row(f"h{n}", 1, name=text[:50], notes=text) for n, text in enumerate(HOSTILE)] + [
        row(
            "all",
            1,
            name="Ada",
            notes=big,
            amount=-(2**63),
            flag=False,
            ratio=0.5,
            price=1e308,
            born=date(1, 1, 1),
            seen=datetime(2030, 6, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-7))),
        ),
        row("max", 1, amount=2**63 - 1, flag=True, price=-0.25, born=date(9999, 12, 31)),
        row("whole", 1, ratio=2, price=7),  # integers for floating-point columns
        row("json", 1, notes=document),
        row("nulls", 1),
    ]
    assert write(pg, rows) == UpsertResult(inserted=len(rows))
    held = stored(pg, *VALUES)
    for source in rows:
        expected = tuple(source[c] for c in VALUES)
        assert held[source["crm_id"]] == expected
    seen = held["all"][VALUES.index("seen")]
    assert seen.tzinfo is not None
    assert seen == datetime(2030, 6, 1, 19, 30, 15, 123456, tzinfo=UTC)
    # Written again as they are: nothing differs, nothing is written.
    before = versions_of_rows(pg)
    assert write(pg, rows, now=LATER) == UpsertResult(unchanged=len(rows))
    assert versions_of_rows(pg) == before


def test_a_nul_in_a_text_is_refused_as_by_the_upsert_of_one_row(pg: sa.Engine) -> None:
    rows = [row("a", 1, name="fine"), row("b", 1, notes="nul\x00inside")]
    with pytest.raises(sa.exc.DataError, match="0x00"):
        write(pg, rows)
    assert stored(pg) == {}  # the whole transaction is rolled back


def test_two_versions_of_a_key_in_one_batch_keep_the_newest(pg: sa.Engine) -> None:
    rows = [row("a", 2, name="second"), row("a", 1, name="first"), row("a", 2, name="last tie")]
    assert write(pg, rows) == UpsertResult(inserted=1, unchanged=2)
    assert stored(pg, "name", "source_version") == {"a": ("last tie", 2)}


def test_a_stale_version_is_ignored_and_writes_nothing(pg: sa.Engine) -> None:
    write(pg, [row("a", 5, name="new")])
    before = versions_of_rows(pg)
    assert write(pg, [row("a", 3, name="old")], now=LATER) == UpsertResult(stale=1)
    assert stored(pg, "name", "source_version") == {"a": ("new", 5)}
    assert versions_of_rows(pg) == before


def test_unchanged_values_are_counted_unchanged_and_a_newer_version_only_advances(
    pg: sa.Engine,
) -> None:
    write(pg, [row("a", 1, name="Ada"), row("b", 1, name="Bob")])
    before = stored(pg, "modified_at", "source_version")
    result = write(pg, [row("a", 1, name="Ada"), row("b", 2, name="Bob")], now=LATER)
    assert result == UpsertResult(unchanged=2, version_only=1)
    after = stored(pg, "modified_at", "source_version")
    assert after == {"a": before["a"], "b": (before["b"][0], 2)}  # modified_at stays
    result = write(pg, [row("a", 2, name="Ann")], now=LATER)
    assert result == UpsertResult(updated=1)
    assert stored(pg, "name", "modified_at") == {"a": ("Ann", LATER), "b": ("Bob", NOW)}


def test_a_redelivered_batch_writes_nothing(pg: sa.Engine) -> None:
    rows = [row(f"k{n}", n, name=f"n{n}", source_digest=n * 7) for n in range(3000)]
    assert write(pg, rows) == UpsertResult(inserted=3000)
    before = versions_of_rows(pg)
    assert write(pg, rows, now=LATER) == UpsertResult(unchanged=3000)
    assert versions_of_rows(pg) == before


def test_a_new_digest_is_written_without_counting_as_a_change(pg: sa.Engine) -> None:
    write(pg, [row("a", 1, name="Ada", source_digest=1)])
    result = write(pg, [row("a", 1, name="Ada", source_digest=2)], now=LATER)
    assert result == UpsertResult(unchanged=1)
    assert stored(pg, "source_digest", "synced_at", "modified_at") == {"a": (2, LATER, NOW)}


def test_insert_only_fields_are_written_on_insert_only(pg: sa.Engine) -> None:
    write(pg, [row("a", 1, name="Ada", notes="kept")], insert_only=["notes"])
    result = write(pg, [row("a", 2, name="Ann", notes="ignored")], insert_only=["notes"])
    assert result == UpsertResult(updated=1)
    assert stored(pg, "name", "notes") == {"a": ("Ann", "kept")}


def test_an_integer_out_of_range_is_refused_as_by_the_upsert_of_one_row(pg: sa.Engine) -> None:
    with pytest.raises(sa.exc.DataError, match="out of range"):
        write(pg, [row("a", 1, amount=2**63)])
    assert stored(pg) == {}


def test_values_of_another_type_than_their_columns_are_cast_as_before(pg: sa.Engine) -> None:
    # An integer for a text, a text for a date or a number: the upsert of one row binds them and
    # PostgreSQL casts them, as it always did.
    loose = row("a", 1, name=5, born="2024-02-29", price=3, amount="12")
    assert write(pg, [loose]) == UpsertResult(inserted=1)
    assert stored(pg, "name", "born", "price", "amount") == {"a": ("5", date(2024, 2, 29), 3.0, 12)}
    before = versions_of_rows(pg)
    write(pg, [loose])
    assert versions_of_rows(pg) == before


def test_crmsync_writes_are_not_captured_and_other_writes_are(pg: sa.Engine) -> None:
    ensure_store_schema(pg)
    install_capture(pg, "kinds", ["name", "amount"], key="crm_id")
    with pg.begin() as conn, crmsync_writes(conn):
        upsert_batch(conn, kinds_table(), "crm_id", [row("a", 1, name="Ada", amount=1)], now=NOW)
    assert read_changes(pg) == []
    with pg.begin() as conn:
        upsert_batch(conn, kinds_table(), "crm_id", [row("a", 2, name="Ann", amount=1)], now=NOW)
    (change,) = read_changes(pg)
    assert (change.record_key, change.operation, change.new) == ("a", "update", {"name": "Ann"})


def random_batches(seed: int, count: int) -> Iterator[list[dict[str, Any]]]:
    """Batches of a few keys with versions that go back and forth, values from small pools
    (NULLs included), duplicates and digests: every case of the guard, many times."""
    rng = random.Random(seed)
    names = [None, "Ada", "Bob", "tab\tand\nnewline"]
    born = [None, date(1990, 1, 1), date(2000, 2, 29)]
    seen = [None, NOW, LATER]
    for _ in range(count):
        batch = []
        for _ in range(rng.randint(1, 12)):
            batch.append(
                row(
                    f"k{rng.randint(0, 7)}",
                    rng.randint(1, 6),
                    name=rng.choice(names),
                    amount=rng.choice([None, 0, 1, -5]),
                    flag=rng.choice([None, True, False]),
                    ratio=rng.choice([None, 0.5, 1.25]),
                    price=rng.choice([None, 2.5, -1.0]),
                    born=rng.choice(born),
                    seen=rng.choice(seen),
                    source_digest=rng.choice([None, 1, 2]),
                )
            )
        yield batch


def test_the_same_batches_give_the_same_counts_and_rows_as_on_sqlite(
    pg: sa.Engine, tmp_path: Path
) -> None:
    lite = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    publish(lite, [KINDS])
    try:
        for n, batch in enumerate(random_batches(seed=20, count=60)):
            now = NOW + timedelta(seconds=n)
            expected = write(lite, batch, now=now)
            assert write(pg, batch, now=now) == expected, f"batch {n}: {batch}"
        columns = (*VALUES, "source_version", "source_digest", "modified_at", "synced_at")
        assert stored(pg, *columns) == stored(lite, *columns)
    finally:
        lite.dispose()


def test_batches_after_another_in_a_transaction_or_after_a_rollback_start_empty(
    pg: sa.Engine,
) -> None:
    t = kinds_table()
    with pg.begin() as conn:
        assert upsert_batch(conn, t, "crm_id", [row("a", 1), row("b", 1)]).inserted == 2
        assert upsert_batch(conn, t, "crm_id", [row("c", 1)]) == UpsertResult(inserted=1)
        other_shape = [{"crm_id": "d", "source_version": 1, "name": "only a name"}]
        assert upsert_batch(conn, t, "crm_id", other_shape) == UpsertResult(inserted=1)
    conn = pg.connect()
    with conn.begin():
        upsert_batch(conn, t, "crm_id", [row("e", 1)])
        conn.rollback()
    conn.close()
    assert write(pg, [row("f", 1)]) == UpsertResult(inserted=1)
    with pg.connect() as conn:  # the same connection of the pool: its batch table was emptied
        left = (
            conn.exec_driver_sql(
                "SELECT relname FROM pg_class WHERE relname LIKE 'crmsync_incoming%%'"
                " AND relnamespace = pg_my_temp_schema()"
            )
            .scalars()
            .all()
        )
        assert left
        for name in left:
            count = sa.select(sa.func.count()).select_from(sa.table(name, schema="pg_temp"))
            assert conn.execute(count).scalar() == 0
    assert set(stored(pg)) == {"a", "b", "c", "d", "f"}
