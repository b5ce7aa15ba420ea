"""Many-row statements without SQLAlchemy's per-row parameter processing.

``conn.execute(stmt, rows)`` builds every row's parameters through generic machinery (bind-name
lookups, type processors called one by one) that costs more than SQLite's own insert of the row:
about three quarters of an initial load's write time. :func:`execute_many` compiles the statement
once with SQLAlchemy, applies only the type processors that the columns actually need, and hands
the rows to the driver's ``executemany``. The SQL text is SQLAlchemy's, values stay bound
parameters; the result is the same as ``conn.execute(stmt, rows)``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from itertools import repeat
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = [
    "bind_processor",
    "column_processors",
    "driver_rows",
    "driver_values",
    "execute_many",
]

_Processor = Callable[[Any], Any]


def execute_many(
    conn: sa.Connection,
    stmt: sa.ClauseElement,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    constants: Mapping[str, Any] | None = None,
    driver_form: bool = False,
) -> None:
    """Execute ``stmt`` (an INSERT of ``table``'s columns, e.g. with ``ON CONFLICT``) once per
    row of ``rows``; every row carries the same keys, each a column of ``table``.

    ``constants``: values shared by every row (a timestamp), processed once instead of per row.
    ``driver_form``: the rows' values are already as the driver takes them (:func:`driver_rows`).
    """
    if not rows:
        return
    dialect = conn.dialect
    shared = dict(constants or {})
    keys = (*rows[0], *(name for name in shared if name not in rows[0]))
    sql, names, positional = _compiled(stmt, dialect, keys)
    unknown = [name for name in names if name not in table.c]
    if unknown:
        raise ValueError(f"{table.name}: the statement binds {unknown}, not columns")
    fixed = {
        name: bind_processor(table.c[name].type, dialect)(value) for name, value in shared.items()
    }
    params: list[Any] = _driver_rows(dialect, table, names, fixed, processed=driver_form)(rows)
    if not positional:
        params = [dict(zip(names, values, strict=True)) for values in params]
    conn.exec_driver_sql(sql, params)


#: The compiled forms of each statement still in use, by dialect and bound columns: a statement
#: run batch after batch (the inbound writer's upsert) is compiled once. SQLAlchemy's own cache
#: serves ``conn.execute`` only, whose per-row parameter processing is what this module avoids.
_COMPILED: weakref.WeakKeyDictionary[
    sa.ClauseElement, dict[tuple[Any, ...], tuple[str, list[str], bool]]
] = weakref.WeakKeyDictionary()


def _compiled(
    stmt: sa.ClauseElement, dialect: sa.Dialect, keys: tuple[str, ...]
) -> tuple[str, list[str], bool]:
    """SQL text, bound names in order and whether they are positional."""
    forms = _COMPILED.get(stmt)
    if forms is None:
        forms = _COMPILED.setdefault(stmt, {})
    found = forms.get((dialect, keys))
    if found is None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        assert isinstance(compiled, SQLCompiler)
        positional = bool(compiled.positional)
        names = list(compiled.positiontup or []) if positional else list(compiled.binds)
        found = forms[dialect, keys] = (compiled.string, names, positional)
    return found


def driver_rows(
    dialect: sa.Dialect, table: sa.Table, columns: Sequence[str], *, processed: bool = False
) -> Callable[[Sequence[Mapping[str, Any]]], list[tuple[Any, ...]]]:
    """A function giving ``columns`` of each row as the driver receives them (after
    SQLAlchemy's type processing), in that order: what a read without result processing returns
    for the same stored values (e.g. SQLite's timestamp text), so that the two can be compared
    directly. ``processed``: the rows hold the driver's forms already (only taken in order)."""
    return _driver_rows(dialect, table, columns, {}, processed=processed)


def driver_values(
    dialect: sa.Dialect, table: sa.Table, columns: Sequence[str]
) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """:func:`driver_rows` of one row."""
    convert = driver_rows(dialect, table, columns)
    return lambda row: convert([row])[0]


def _identity(value: Any) -> Any:
    return value


def column_processors(
    dialect: sa.Dialect, table: sa.Table, columns: Iterable[str]
) -> dict[str, _Processor]:
    """The processor of each of ``columns`` whose values the driver takes in another form
    (:func:`bind_processor`); the columns whose values it takes as they are have none."""
    processors = {name: bind_processor(table.c[name].type, dialect) for name in columns}
    return {name: process for name, process in processors.items() if process is not _identity}


def bind_processor(kind: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> _Processor:
    """Python value of type ``kind`` → the value the driver receives (the identity when the
    type needs no processing)."""
    general = kind.dialect_impl(dialect).bind_processor(dialect)
    if general is None:
        return _identity
    if isinstance(kind, sa.Boolean):
        return _fast_booleans(general)
    if isinstance(kind, sa.Date) and general(_SAMPLE_DATE) == _SAMPLE_DATE.isoformat():
        return _fast_dates(general)
    return general


_SAMPLE_DATE = date(987, 6, 5)


def _fast_booleans(general: _Processor) -> _Processor:
    """SQLAlchemy's boolean processor for ``True`` and ``False`` computed once: it checks and
    converts each value in several calls (anything else still goes through it)."""
    true, false = general(True), general(False)

    def process(value: Any) -> Any:
        if value is True:
            return true
        if value is False:
            return false
        return general(value)

    return process


def _fast_dates(general: _Processor) -> _Processor:
    """Dates as ISO text in one C call, where that is the very text SQLAlchemy writes (SQLite):
    its processor formats them through a dictionary at five times the cost."""

    def process(value: Any) -> Any:
        if type(value) is date:
            return value.isoformat()
        return general(value)

    return process


def _driver_rows(
    dialect: sa.Dialect,
    table: sa.Table,
    names: Sequence[str],
    fixed: Mapping[str, Any],
    *,
    processed: bool = False,
) -> Callable[[Sequence[Mapping[str, Any]]], list[tuple[Any, ...]]]:
    """Rows → tuples of ``names`` in order: taken from the row and processed (as they are when
    ``processed``), or ``fixed`` (already processed). Built column by column (a C-level map per
    column, then one zip): a loop over rows in Python would cost more than the driver's own
    work."""
    plan: list[tuple[str, Any, _Processor | None]] = []
    for name in names:
        if name in fixed:
            plan.append((name, fixed[name], None))
            continue
        processor = _identity if processed else bind_processor(table.c[name].type, dialect)
        plan.append((name, None, None if processor is _identity else processor))

    def convert(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        if not plan:
            return [()] * len(rows)
        columns: list[Iterable[Any]] = []
        for name, value, processor in plan:
            if name in fixed:
                columns.append(repeat(value, len(rows)))
            elif processor is None:
                columns.append(map(itemgetter(name), rows))
            else:
                columns.append(map(processor, map(itemgetter(name), rows)))
        return list(zip(*columns, strict=False))

    return convert
