"""Steps on Campaign resources: ``campaign_query`` (select) and ``update_campaign`` (upsert or
delete by key). Table and column names are checked against the database's own metadata; values
are bound parameters. An upsert leaves out the records a privacy delete suppressed (counted
``suppressed``; see :mod:`crmsync.state.suppressions`)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from crmsync.config.models import FilterOp
from crmsync.errors import ConfigurationError
from crmsync.jobs.context import Row, StepContext, StepResult
from crmsync.jobs.filters import Condition, FilterLevel, parse_filter, resolve_value
from crmsync.jobs.models import CampaignQueryStep, UpdateCampaignStep
from crmsync.state.suppressions import Suppressions, WriteGuard
from crmsync.store.registry import published_definitions
from crmsync.store.writes import delete_by_keys, upsert_batch

__all__ = ["query", "update"]


def _table(ctx: StepContext, name: str) -> sa.Table:
    if name.startswith("crmsync_") or not sa.inspect(ctx.campaign).has_table(name):
        raise ConfigurationError(f"the Campaign store has no resource '{name}'")
    return sa.Table(name, sa.MetaData(), autoload_with=ctx.campaign)


def _column(table: sa.Table, name: str, where: str) -> sa.ColumnElement[Any]:
    if name not in table.c:
        raise ConfigurationError(f"{where}: resource '{table.name}' has no field '{name}'")
    return table.c[name]


def _clause(ctx: StepContext, table: sa.Table, level: FilterLevel, where: str) -> Any:
    parts = []
    for index, item in enumerate(level.items):
        here = f"{where}[{index}]"
        if isinstance(item, FilterLevel):
            parts.append(_clause(ctx, table, item, f"{here}.group"))
        else:
            parts.append(_condition(ctx, table, item, here))
    return sa.and_(*parts) if level.join == "and" else sa.or_(*parts)


def _condition(ctx: StepContext, table: sa.Table, item: Condition, where: str) -> Any:
    column = _column(table, item.field, where)
    if item.op == FilterOp.IS_EMPTY:
        return column.is_(None)
    if item.op == FilterOp.IS_NOT_EMPTY:
        return column.is_not(None)
    try:
        value = resolve_value(item.value, ctx.variables, ctx.now())
    except KeyError as exc:
        raise ConfigurationError(f"{where}: unknown variable {exc}") from None
    op = item.op
    if op == FilterOp.CONTAINS:
        return column.contains(value, autoescape=True)
    if op == FilterOp.STARTS_WITH:
        return column.startswith(value, autoescape=True)
    if op == FilterOp.ENDS_WITH:
        return column.endswith(value, autoescape=True)
    compare = {
        FilterOp.EQ: operator.eq,
        FilterOp.NE: operator.ne,
        FilterOp.GT: operator.gt,
        FilterOp.GE: operator.ge,
        FilterOp.LT: operator.lt,
        FilterOp.LE: operator.le,
    }
    return compare[op](column, value)


def _coerce(column: sa.ColumnElement[Any], value: Any) -> Any:
    """ISO text from earlier steps (JSON rows) as the date/time the column holds."""
    if not isinstance(value, str) or not value:
        return value
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return value
    try:
        if python_type is datetime:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if python_type is date:
            return date.fromisoformat(value[:10])
    except ValueError:
        raise ConfigurationError(f"'{value}' is not a date for field '{column.name}'") from None
    return value


def query(ctx: StepContext, step: CampaignQueryStep) -> StepResult:
    table = _table(ctx, step.resource)
    columns = [_column(table, name, "fields") for name in step.fields] or list(table.c)
    statement = sa.select(*columns)
    if step.filter:
        statement = statement.where(_clause(ctx, table, parse_filter(step.filter), "filter"))
    if step.limit is not None:
        statement = statement.limit(step.limit)
    with ctx.campaign.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(statement)]
    return StepResult(rows=rows, counts={"selected": len(rows)})


def update(ctx: StepContext, step: UpdateCampaignStep, rows: Sequence[Row]) -> StepResult:
    table = _table(ctx, step.resource)
    _column(table, step.key, "key")
    mapping = dict(step.fields) or {
        column.name: column.name for column in table.c if any(column.name in row for row in rows)
    }
    mapping.setdefault(step.key, step.key)
    for name in mapping:
        _column(table, name, "fields")
    source_key = mapping[step.key]
    keyed = [row for row in rows if row.get(source_key) not in (None, "")]
    with ctx.campaign.begin() as conn:
        if step.operation == "delete":
            deleted = delete_by_keys(conn, table, step.key, [row[source_key] for row in keyed])
            return StepResult(rows=list(rows), counts={"deleted": deleted})
        values = [
            {name: _coerce(table.c[name], row.get(source)) for name, source in mapping.items()}
            for row in keyed
        ]
        values, suppressed = Suppressions(ctx.campaign).unsuppressed(
            conn, _guard(conn, table.name), table, values, upsert_key=step.key
        )
        written = upsert_batch(conn, table, step.key, values, version_field=None)
    return StepResult(
        rows=list(rows),
        counts={
            "inserted": written.inserted,
            "updated": written.updated,
            "unchanged": written.unchanged,
            "skipped_without_key": len(rows) - len(keyed),
            "suppressed": suppressed,
        },
    )


def _guard(conn: sa.Connection, resource: str) -> WriteGuard:
    """What rows of ``resource`` are checked against: its identifier and its links, as
    published."""
    definition = published_definitions(conn).get(resource)
    if definition is None:
        return WriteGuard(resource, None)
    links = tuple((link.field, link.resource) for link in definition.links)
    return WriteGuard(resource, definition.identifier, links)
