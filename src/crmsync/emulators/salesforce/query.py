"""``query`` and ``queryAll``: run SOQL, answer in batches, continue through query locators.

Paging is keyset paging: every statement is ordered by its ``ORDER BY`` terms plus ``Id`` (unique),
and a locator remembers, for each position it has answered, the sort key of the last record
before it. A continuation selects the records after that key, so a batch costs the same at the
start and at the end of a million-record result and a batch can be asked for again (a client
retrying after a dropped connection gets the same records). Unlike the real service, a result is
not a snapshot: records written between batches may show up in later batches.

Locators expire after 15 minutes without use (``INVALID_QUERY_LOCATOR``), as on the real service.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.salesforce.errors import ApiError
from crmsync.emulators.salesforce.ids import checksum
from crmsync.emulators.salesforce.soql import SoqlError, parse
from crmsync.emulators.salesforce.soql_sql import CompiledQuery, OrderKey, compile_query
from crmsync.emulators.salesforce.store import SalesforceStore, format_datetime

__all__ = ["QueryService", "batch_size_option", "retention_cutoff"]

#: Open locators kept at most; the least recently used one is forgotten first.
MAX_OPEN_LOCATORS = 1000


def batch_size_option(header: str | None, default: int) -> int:
    """The batch size asked for in ``Sforce-Query-Options: batchSize=N`` (clamped to 200–2,000)."""
    if not header:
        return default
    for part in header.split(","):
        name, _, value = part.partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(200, min(2000, int(value.strip())))
    return default


@dataclass(slots=True)
class _Cursor:
    compiled: CompiledQuery
    total: int
    batch: int
    version: str
    all_rows: bool
    last_used: float
    #: Position → the sort key of the record just before it.
    keys: dict[int, tuple[Any, ...]] = field(default_factory=dict)


def _after(order: list[OrderKey], values: tuple[Any, ...]) -> ColumnElement[Any]:
    """Records strictly after ``values`` in ``order`` (each term with its NULLS placement)."""
    same_direction = len({key.descending for key in order}) == 1
    if same_direction and not any(key.nulls_last for key in order) and None not in values:
        # One row-value comparison, which SQLite answers straight from an index on the sort
        # columns. Nulls sort first here, so excluding them (NULL comparisons are not true) is
        # exactly right.
        columns = sa.tuple_(*(key.column for key in order))
        bound = sa.tuple_(*(sa.literal(v) for v in values))
        lead = order[0].column
        # The plain bound on the leading column makes SQLite start its index range here rather
        # than at a looser bound from the statement's own WHERE (which would rescan the pages
        # already answered).
        if order[0].descending:
            return sa.and_(lead <= values[0], columns < bound)
        return sa.and_(lead >= values[0], columns > bound)
    alternatives = []
    for index, key in enumerate(order):
        value = values[index]
        column = key.column
        if value is None:
            after: ColumnElement[Any] = sa.false() if key.nulls_last else column.is_not(None)
        else:
            beyond = column < value if key.descending else column > value
            after = sa.or_(beyond, column.is_(None)) if key.nulls_last else beyond
        equal = [
            prior.column.is_(None) if values[i] is None else prior.column == values[i]
            for i, prior in enumerate(order[:index])
        ]
        alternatives.append(sa.and_(*equal, after))
    return sa.or_(*alternatives)


class QueryService:
    """Runs queries for the REST API and keeps their locators."""

    def __init__(self, store: SalesforceStore, clock: Clock, idle_seconds: float = 900.0) -> None:
        self.store = store
        self.clock = clock
        self.idle_seconds = idle_seconds
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._lock = threading.Lock()

    def start(
        self, soql: str, *, version: str, all_rows: bool, batch: int, purge_before: str | None
    ) -> dict[str, Any]:
        """The first batch of ``soql`` (``queryAll`` when ``all_rows``)."""
        try:
            compiled = compile_query(
                parse(soql), self.store, self.clock.now(), include_deleted=all_rows
            )
        except SoqlError as error:
            raise ApiError(400, error.code, error.message(soql)) from None
        if all_rows and purge_before is not None:
            self.store.purge(purge_before)
        total = self._count(compiled)
        if compiled.count_only:
            return {"totalSize": total, "done": True, "records": []}
        cursor = _Cursor(compiled, total, batch, version, all_rows, self.clock.monotonic())
        cursor.keys[0] = ()
        return self._page(cursor, 0, None)

    def more(self, locator: str, *, version: str) -> dict[str, Any]:
        """The batch of ``{locator}-{position}``."""
        name, _, position_text = locator.partition("-")
        with self._lock:
            cursor = self._cursors.get(name)
            now = self.clock.monotonic()
            if cursor is not None and now - cursor.last_used > self.idle_seconds:
                del self._cursors[name]
                cursor = None
            position = int(position_text) if position_text.isdigit() else -1
            if cursor is None or position not in cursor.keys:
                raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            cursor.last_used = now
            self._cursors.move_to_end(name)
        cursor.version = version
        return self._page(cursor, position, name)

    def _count(self, compiled: CompiledQuery) -> int:
        query = sa.select(sa.func.count()).select_from(compiled.from_clause(for_count=True))
        if compiled.where:
            query = query.where(*compiled.where)
        with self.store.reading() as conn:
            count = int(conn.execute(query).scalar_one())
        count = max(0, count - compiled.offset)
        return count if compiled.limit is None else min(count, compiled.limit)

    def _page(self, cursor: _Cursor, position: int, name: str | None) -> dict[str, Any]:
        compiled = cursor.compiled
        remaining = cursor.total - position
        size = max(0, min(cursor.batch, remaining))
        columns = compiled.columns()
        sort_columns = [key.column for key in compiled.order]
        query = sa.select(*columns, *sort_columns).select_from(compiled.from_clause())
        previous = cursor.keys[position]
        where = [_after(compiled.order, previous)] if previous else []
        where += compiled.where
        if where:
            query = query.where(*where)
        ordering = []
        for key in compiled.order:
            term = key.column.desc() if key.descending else key.column.asc()
            ordering.append(term.nulls_last() if key.nulls_last else term.nulls_first())
        query = query.order_by(*ordering).limit(size)
        if position == 0 and compiled.offset:
            query = query.offset(compiled.offset)
        with self.store.reading() as conn:
            rows = conn.execute(query).all() if size else []
        records = _Renderer(compiled, cursor.version).render(rows)
        next_position = position + len(rows)
        result: dict[str, Any] = {"totalSize": cursor.total, "done": True, "records": records}
        if rows and next_position < cursor.total:
            width = len(columns)
            last_key = tuple(rows[-1][width:])
            with self._lock:
                if name is None:
                    name = self._new_locator()
                    self._cursors[name] = cursor
                    while len(self._cursors) > MAX_OPEN_LOCATORS:
                        self._cursors.popitem(last=False)
                cursor.keys[next_position] = last_key
            result["done"] = False
            result["nextRecordsUrl"] = (
                f"/services/data/v{cursor.version}/query/{name}-{next_position}"
            )
        return result

    def _new_locator(self) -> str:
        body = "01g5g0" + secrets.token_hex(5).upper()[:9]
        return body + checksum(body)


class _Renderer:
    """Turns result rows into records: ``attributes`` first, then the fields as selected, parents
    nested as sub-records (or ``null`` when the reference is empty)."""

    def __init__(self, compiled: CompiledQuery, version: str) -> None:
        self.type = compiled.obj.name
        self.url = f"/services/data/v{version}/sobjects/{compiled.obj.name}/"
        self.top: list[tuple[str, int]] = []
        parents: dict[str, list[tuple[str, int]]] = {}
        for index, item in enumerate(compiled.selected, start=1):
            entry = (item.field.name, index)
            if item.relationship is None:
                self.top.append(entry)
            else:
                parents.setdefault(item.relationship.lower(), []).append(entry)
        first_parent_id = len(compiled.selected) + 1
        self.parents = []
        for offset, (key, join) in enumerate(compiled.joins.items()):
            self.parents.append(
                (
                    join.relationship,
                    join.target.name,
                    f"/services/data/v{version}/sobjects/{join.target.name}/",
                    first_parent_id + offset,
                    parents.get(key, []),
                )
            )
        self.plain = not self.parents

    def render(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        type_, url = self.type, self.url
        if self.plain:
            # Selected fields sit right after the leading Id: pair them up in one zip.
            names = [name for name, _ in self.top]
            end = len(names) + 1
            records = []
            for row in rows:
                record: dict[str, Any] = {"attributes": {"type": type_, "url": url + row[0]}}
                record.update(zip(names, row[1:end], strict=True))
                records.append(record)
            return records
        records = []
        for row in rows:
            record = {"attributes": {"type": type_, "url": url + row[0]}}
            for name, index in self.top:
                record[name] = row[index]
            for relationship, parent_type, parent_url, id_index, fields in self.parents:
                parent_id = row[id_index]
                if not fields:
                    continue
                if parent_id is None:
                    record[relationship] = None
                    continue
                parent: dict[str, Any] = {
                    "attributes": {"type": parent_type, "url": parent_url + parent_id}
                }
                for name, index in fields:
                    parent[name] = row[index]
                record[relationship] = parent
            records.append(record)
        return records


def retention_cutoff(clock: Clock, days: float) -> str:
    """The stored time ``days`` before now: older recycle-bin entries are purged."""
    return format_datetime(clock.now() - timedelta(days=days))
