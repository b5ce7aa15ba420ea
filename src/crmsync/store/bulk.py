"""Many-row statements without SQLAlchemy's per-row parameter processing.

``conn.execute(stmt, rows)`` builds every row's parameters through generic machinery (bind-name
lookups, type processors called one by one) that costs more than SQLite's own insert of the row:
about three quarters of an initial load's write time. :func:`execute_many` compiles the statement
once with SQLAlchemy, applies only the type processors that the columns actually need, and hands
the rows to the driver's ``executemany``. The SQL text is SQLAlchemy's, values stay bound
parameters; the result is the same as ``conn.execute(stmt, rows)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["driver_values", "execute_many"]

_Processor = Callable[[Any], Any]


def execute_many(
    conn: sa.Connection,
    stmt: sa.ClauseElement,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Execute ``stmt`` (an INSERT of ``table``'s columns, e.g. with ``ON CONFLICT``) once per
    row of ``rows``; every row carries the same keys, each a column of ``table``.

    ``constants``: values shared by every row (a timestamp), processed once instead of per row.
    """
    if not rows:
        return
    dialect = conn.dialect
    shared = dict(constants or {})
    keys = [*rows[0], *(name for name in shared if name not in rows[0])]
    compiled = stmt.compile(dialect=dialect, column_keys=keys)
    assert isinstance(compiled, SQLCompiler)
    processed_shared = {
        name: _processor(table.c[name].type, dialect)(value) for name, value in shared.items()
    }
    names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
    unknown = [name for name in names if name not in table.c]
    if unknown:
        raise ValueError(f"{table.name}: the statement binds {unknown}, not columns")
    from_rows = [name for name in names if name not in processed_shared]
    fixed = [
        (i, processed_shared[name]) for i, name in enumerate(names) if name in processed_shared
    ]
    processors = [
        (i, processor)
        for i, name in enumerate(names)
        if name not in processed_shared
        and (processor := _processor(table.c[name].type, dialect)) is not _identity
    ]
    params = _parameters(rows, names, from_rows, fixed, processors)
    if not compiled.positional:
        params = [dict(zip(names, values, strict=True)) for values in params]
    conn.exec_driver_sql(compiled.string, params)


def driver_values(
    dialect: sa.Dialect, table: sa.Table, columns: Sequence[str]
) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function giving ``columns`` of a row as the driver receives them (after SQLAlchemy's
    type processing), in that order: what a read without result processing returns for the same
    stored values (e.g. SQLite's timestamp text), so that the two can be compared directly."""
    processors = [(name, _processor(table.c[name].type, dialect)) for name in columns]
    plain = all(processor is _identity for _, processor in processors)
    if plain:
        getter = itemgetter(*columns) if columns else None
        if getter is None:
            return lambda _row: ()
        if len(columns) == 1:
            return lambda row: (getter(row),)
        return getter
    return lambda row: tuple(processor(row[name]) for name, processor in processors)


def _identity(value: Any) -> Any:
    return value


def _processor(kind: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> _Processor:
    return kind.dialect_impl(dialect).bind_processor(dialect) or _identity


def _parameters(
    rows: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    from_rows: Sequence[str],
    fixed: Sequence[tuple[int, Any]],
    processors: Sequence[tuple[int, _Processor]],
) -> list[Any]:
    """Each row's values in ``names`` order: taken from the row, or fixed; then processed."""
    if not from_rows:
        return [tuple(value for _, value in fixed)] * len(rows)
    getter = itemgetter(*from_rows)
    single = len(from_rows) == 1
    if not fixed and not processors:
        return [(getter(row),) if single else getter(row) for row in rows]
    out: list[Any] = []
    for row in rows:
        taken = getter(row)
        values = [taken] if single else list(taken)
        for index, value in fixed:
            values.insert(index, value)
        for index, processor in processors:
            values[index] = processor(values[index])
        out.append(tuple(values))
    return out
