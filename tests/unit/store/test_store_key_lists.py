"""``one_of``: membership in a key list bound as one parameter, on SQLite (PostgreSQL in
tests/integration/store/test_store_postgresql.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.store.key_lists import one_of

HOSTILE = ["o'brien", 'say "hi"', "ünïcødé ✓", "50%_off", "a\\b", "new\nline", ""]


@pytest.fixture
def table() -> Iterator[tuple[sa.Engine, sa.Table]]:
    engine = sa.create_engine("sqlite://")
    t = sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50)),
        sa.Column("born", sa.Date),
    )
    t.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            t.insert(),
            [
                {"id": n, "name": name, "born": date(2000, 1, n + 1)}
                for n, name in enumerate(HOSTILE)
            ]
            + [{"id": n, "name": f"name {n}", "born": None} for n in range(100, 50_100)],
        )
    yield engine, t
    engine.dispose()


def _ids(engine: sa.Engine, t: sa.Table, column: str, keys: list[Any]) -> set[int]:
    with engine.connect() as conn:
        query = sa.select(t.c.id).where(one_of(t.c[column], keys, conn.dialect))
        return set(conn.scalars(query))


def test_text_keys_match_exactly(table: tuple[sa.Engine, sa.Table]) -> None:
    engine, t = table
    assert _ids(engine, t, "name", [*HOSTILE, "missing", "O'BRIEN"]) == set(range(len(HOSTILE)))
    assert _ids(engine, t, "name", ['say "hi"', "name 100"]) == {1, 100}


def test_numbers_and_dates_match_as_stored(table: tuple[sa.Engine, sa.Table]) -> None:
    engine, t = table
    assert _ids(engine, t, "id", [0, 2, 100, 99_999]) == {0, 2, 100}
    assert _ids(engine, t, "born", [date(2000, 1, 2), date(1999, 1, 1)]) == {1}


def test_an_empty_list_matches_nothing(table: tuple[sa.Engine, sa.Table]) -> None:
    engine, t = table
    assert _ids(engine, t, "name", []) == set()


def test_more_keys_than_sqlite_takes_parameters_in_one_query(
    table: tuple[sa.Engine, sa.Table],
) -> None:
    engine, t = table
    keys = [f"name {n}" for n in range(100, 50_100)]
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert len(_ids(engine, t, "name", keys)) == 50_000
    assert len(statements) == 1


def test_the_statement_does_not_depend_on_the_keys(table: tuple[sa.Engine, sa.Table]) -> None:
    engine, t = table
    with engine.connect() as conn:
        texts = {
            str(sa.select(t.c.id).where(one_of(t.c.name, keys, conn.dialect)).compile(conn))
            for keys in (["a"], ["a", "b", "c"], [f"k{n}" for n in range(1000)])
        }
    assert len(texts) == 1
