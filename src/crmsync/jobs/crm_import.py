"""The ``crm`` step, ``import``: read CRM records by filter, incrementally, or by upstream ids.

The record id is always in the output (under the table's primary-key name), and so is the
last-modified field when the automatic index is on. The automatic index's window (from the
``LASTIMPORT_…`` option to the CRM's current second, read again from an overlap before its start)
is :mod:`crmsync.jobs.import_window`; the option moves to the window's end in the same
transaction that records the step as done, so a crash before that re-reads the same window.

``order_by`` sorts the collected records here (both connectors page on their own keys), so the
order is the same for both CRMs; ``None`` sorts last in either direction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crmsync.connectors.base import INVALID_TEXT, Record, TableInfo
from crmsync.errors import ConfigurationError
from crmsync.jobs.context import Row, StepContext, StepResult, reject
from crmsync.jobs.conversions import import_value
from crmsync.jobs.filters import parse_filter
from crmsync.jobs.import_window import ImportWindow, modified_field, open_window
from crmsync.jobs.models import CrmStep
from crmsync.jobs.odata_filter import odata_filter, odata_in, odata_window
from crmsync.jobs.options import format_option_date
from crmsync.jobs.query_values import field_of
from crmsync.jobs.soql_filter import soql_filter, soql_in, soql_window
from crmsync.sync.parse import RejectCode

__all__ = ["build_where", "run_import"]

_IDS_PER_QUERY = 100


def build_where(
    dialect: str,
    info: TableInfo,
    step: CrmStep,
    variables: dict[str, str],
    now: datetime,
    window: ImportWindow | None,
) -> str | None:
    """The query condition of the step: its filter AND the automatic index's window."""
    parts: list[str] = []
    if step.filter:
        tree = parse_filter(step.filter)
        translate = odata_filter if dialect == "dataverse" else soql_filter
        try:
            parts.append(translate(info, tree, variables, now=now))
        except KeyError as exc:
            raise ConfigurationError(f"filter: unknown variable {exc}") from None
    if window is not None:
        make = odata_window if dialect == "dataverse" else soql_window
        parts.append(make(window.wire, window.read_from, window.end))
    if not parts:
        return None
    joiner = " and " if dialect == "dataverse" else " AND "
    return joiner.join(parts)


def _upstream_ids(rows: Sequence[Row], field: str) -> list[str]:
    ids = [row.get(field) for row in rows]
    return list(dict.fromkeys(str(value) for value in ids if value not in (None, "")))


def _sort(rows: list[Row], step: CrmStep) -> list[Row]:
    for order in reversed(step.order_by):
        present = [row for row in rows if row.get(order.field) is not None]
        missing = [row for row in rows if row.get(order.field) is None]
        present.sort(key=lambda row: row[order.field], reverse=order.direction == "desc")
        rows = present + missing
    return rows


async def run_import(ctx: StepContext, step: CrmStep, rows: Sequence[Row]) -> StepResult:
    dialect, connector = ctx.connectors.get(step.connection)
    info = await connector.describe(step.object)
    now = ctx.now().replace(microsecond=0)
    wanted = [(field_of(info, f.name, f"fields ({f.name})"), f) for f in step.fields]
    names = [field.name for field, _ in wanted]
    outputs = {spec.output for _, spec in wanted}
    extra: list[str] = [info.primary_key]
    for order in step.order_by:
        name = field_of(info, order.field, "order_by").name
        if name not in outputs and name not in extra:
            extra.append(name)  # sorted on, so selected and given on
    result = StepResult()
    window: ImportWindow | None = None
    if step.automatic_index is not None and step.automatic_index.enabled:
        modified = modified_field(dialect, info, step.automatic_index.field)
        if modified not in extra:
            extra.append(modified)
        wire = info.fields[modified].wire_name
        window = open_window(ctx, connector, step.automatic_index, modified, wire)
    select = list(dict.fromkeys([*names, *extra]))
    records: list[Record] = []
    if step.upstream is not None:
        ids = _upstream_ids(rows, step.upstream.field)
        key = (
            info.fields[info.primary_key].wire_name
            if info.primary_key in info.fields
            else (info.primary_key)
        )
        for start_at in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[start_at : start_at + _IDS_PER_QUERY]
            ids_where = _in_condition(dialect, key, chunk)
            async for page in connector.read_all(step.object, select, where=ids_where):
                records.extend(page)
            ctx.progress(len(records), len(ids))
    else:
        where = build_where(dialect, info, step, ctx.variables, now, window)
        async for page in connector.read_all(step.object, select, where=where):
            records.extend(page)
            ctx.progress(len(records), None)
    if window is not None:
        records, seen = window.keep(records)
        result.variables = window.variables()
        result.options = {window.option: format_option_date(window.end)}
        result.seen = {window.option: seen}
    good: list[Record] = []
    for record in records:
        problem = _unreadable(info, record)
        if problem is None:
            good.append(record)
        else:
            code, message = problem
            result.rejects.append(reject({info.primary_key: record.id}, code, message))
    result.rows = _sort([_row(ctx, info, record, wanted, extra) for record in good], step)
    result.counts = {"read": len(records)}
    return result


def _unreadable(info: TableInfo, record: Record) -> tuple[str, str] | None:
    """Why a record the CRM sent cannot be imported (no id; text no store can hold, which the
    connector noted, or a NUL character): the step rejects it and imports the others."""
    if not record.id:
        return RejectCode.MISSING_ID.value, f"{info.name}: the record has no id"
    invalid = record.values.get(INVALID_TEXT)
    if invalid is not None:
        return RejectCode.INVALID_VALUE.value, f"{info.name} {record.id[:60]!r}: {invalid}"
    for name, value in record.values.items():
        if isinstance(value, str) and "\x00" in value:
            return (
                RejectCode.INVALID_VALUE.value,
                f"{info.name} {record.id[:60]!r}: {name} holds a NUL character (\\u0000)",
            )
    return None


def _in_condition(dialect: str, key: str, ids: list[str]) -> str:
    if dialect == "dataverse":
        guids = []
        for value in ids:
            try:
                guids.append(uuid.UUID(value))
            except ValueError:
                raise ConfigurationError(f"upstream: {value!r} is not a Dataverse id") from None
        return odata_in(key, guids)
    return soql_in(key, ids)


def _row(
    ctx: StepContext,
    info: TableInfo,
    record: Record,
    wanted: Sequence[tuple[Any, Any]],
    extra: Sequence[str],
) -> Row:
    values = record.values
    row: Row = {}
    for field, spec in wanted:
        row[spec.output] = import_value(field, values.get(field.wire_name), spec.conversion, ctx.tz)
    row[info.primary_key] = record.id
    for name in extra[1:]:
        field = info.fields[name]
        row[name] = values.get(field.wire_name)
    return row
