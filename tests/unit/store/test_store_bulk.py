"""execute_many: the same rows as SQLAlchemy's own executemany, type processors and shared
values included, with bound parameters only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from crmsync.store.bulk import column_processors, driver_values, execute_many
from crmsync.store.types import UtcDateTime


def _table(name: str) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("key", sa.String(20), primary_key=True),
        sa.Column("flag", sa.Boolean()),
        sa.Column("born", sa.Date()),
        sa.Column("seen", UtcDateTime()),
        sa.Column("note", sa.Text()),
        sa.Column("origin", sa.String(20)),
    )


ROWS = [
    {
        "key": "a",
        "flag": True,
        "born": date(1990, 5, 17),
        "seen": datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),
        "note": "x'); drop table t; --",
    },
    {"key": "b", "flag": False, "born": None, "seen": None, "note": None},
]


def test_rows_match_sqlalchemy_executemany() -> None:
    engine = sa.create_engine("sqlite://")
    ours, theirs = _table("ours"), _table("theirs")
    shared = {"origin": "crm:x"}
    with engine.begin() as conn:
        ours.create(conn)
        theirs.create(conn)
        execute_many(conn, sa.insert(ours), ours, ROWS, constants=shared)
        conn.execute(sa.insert(theirs), [{**row, **shared} for row in ROWS])
        raw = "select key, flag, born, seen, note, origin from {} order by key"
        assert (
            conn.exec_driver_sql(raw.format("ours")).all()
            == conn.exec_driver_sql(raw.format("theirs")).all()
        )
        stored = conn.execute(sa.select(ours).order_by(ours.c.key)).all()
    assert stored[0].seen == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert stored[0].note == "x'); drop table t; --"
    assert [row.origin for row in stored] == ["crm:x", "crm:x"]


def test_on_conflict_statements_and_empty_batches() -> None:
    engine = sa.create_engine("sqlite://")
    table = _table("t")
    with engine.begin() as conn:
        table.create(conn)
        execute_many(conn, sa.insert(table), table, [])
        stmt = sqlite.insert(table)
        upsert = stmt.on_conflict_do_update(
            index_elements=[table.c.key], set_={"note": stmt.excluded.note}
        )
        execute_many(conn, upsert, table, [{"key": "a", "note": "one"}])
        execute_many(conn, upsert, table, [{"key": "a", "note": "two"}, {"key": "c", "note": "3"}])
        assert dict(conn.execute(sa.select(table.c.key, table.c.note)).all()) == {
            "a": "two",
            "c": "3",
        }


def test_a_statement_run_again_is_compiled_once_per_set_of_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = sa.create_engine("sqlite://")
    table = _table("t")
    stmt = sqlite.insert(table)
    upsert = stmt.on_conflict_do_update(
        index_elements=[table.c.key], set_={"note": stmt.excluded.note}
    )
    compiled: list[tuple[str, ...]] = []
    compile_once = type(upsert).compile

    def counted(self: Any, *args: Any, **kw: Any) -> Any:
        compiled.append(tuple(kw["column_keys"]))
        return compile_once(self, *args, **kw)

    monkeypatch.setattr(type(upsert), "compile", counted)
    with engine.begin() as conn:
        table.create(conn)
        for batch in (1, 2, 3):
            execute_many(conn, upsert, table, [{"key": f"k{batch}", "note": f"{batch}"}])
        # Other columns bound: another compiled form, with the values in their own places.
        execute_many(conn, upsert, table, [{"key": "k4", "note": "x"}], constants={"origin": "o"})
        execute_many(conn, upsert, table, [{"key": "k1", "note": "y"}], constants={"origin": "p"})
        stored = conn.execute(sa.select(table.c.key, table.c.note, table.c.origin)).all()
    assert compiled == [("key", "note"), ("key", "note", "origin")]
    assert sorted(stored) == [
        ("k1", "y", None),
        ("k2", "2", None),
        ("k3", "3", None),
        ("k4", "x", "o"),
    ]


def test_a_bind_that_is_no_column_is_refused() -> None:
    engine = sa.create_engine("sqlite://")
    table = _table("t")
    with engine.begin() as conn:
        table.create(conn)
        stmt = sa.insert(table).values(note=sa.bindparam("other"))
        with pytest.raises(ValueError, match="other"):
            execute_many(conn, stmt, table, [{"key": "a", "other": "x"}])


def test_driver_values_compare_equal_to_stored_values() -> None:
    engine = sa.create_engine("sqlite://")
    table = _table("t")
    rows = [{**row, "origin": "crm"} for row in ROWS]
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(sa.insert(table), rows)
        columns = ["flag", "born", "seen", "note", "origin"]
        as_stored = driver_values(conn.dialect, table, columns)
        raw = [sa.type_coerce(table.c[name], sa.types.NullType()) for name in columns]
        stored = conn.execute(sa.select(*raw).order_by(table.c.key)).all()
    assert [as_stored(row) for row in rows] == [tuple(values) for values in stored]
    changed = {**rows[0], "seen": datetime(2026, 1, 1, 10, 0, 1, tzinfo=UTC)}
    assert as_stored(changed) != tuple(stored[0])
    assert driver_values(engine.dialect, table, ["note"])(rows[0]) == (rows[0]["note"],)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "pg"])
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("flag", True),
        ("flag", False),
        ("flag", None),
        ("born", date(1990, 5, 17)),
        ("born", date(987, 6, 5)),
        ("born", datetime(2026, 1, 2, 23, 59, tzinfo=UTC)),  # a date-time into a date column
        ("born", None),
        ("seen", datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)),
        ("seen", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))),
    ],
)
def test_driver_values_are_sqlalchemys_own(dialect: sa.Dialect, column: str, value: Any) -> None:
    table = _table("t")
    processor = table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    expected = value if processor is None else processor(value)
    assert driver_values(dialect, table, [column])({column: value}) == (expected,)


@pytest.mark.parametrize(
    ("column", "value", "error"),
    [("flag", 2, ValueError), ("flag", "yes", TypeError), ("born", "1990-05-17", TypeError)],
)
def test_values_sqlalchemy_refuses_are_still_refused(column: str, value: Any, error: type) -> None:
    convert = driver_values(sqlite.dialect(), _table("t"), [column])
    with pytest.raises(error):
        convert({column: value})


@pytest.mark.parametrize(
    ("dialect", "processed"),
    [
        (sqlite.dialect(), {"flag", "born", "seen"}),
        (postgresql.dialect(), {"flag", "seen"}),  # type: ignore[no-untyped-call]
    ],
)
def test_column_processors_are_those_of_columns_the_driver_takes_otherwise(
    dialect: sa.Dialect, processed: set[str]
) -> None:
    table = _table("t")
    columns = [column.name for column in table.c]
    processors = column_processors(dialect, table, columns)
    assert set(processors) == processed
    as_driver = driver_values(dialect, table, columns)
    for row in ROWS:
        expected = dict(zip(columns, as_driver(row | {"origin": None}), strict=True))
        made = {name: processors.get(name, lambda v: v)(row.get(name)) for name in columns}
        assert made == expected
