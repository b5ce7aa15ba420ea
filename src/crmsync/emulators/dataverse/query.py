"""Collection and single-record reads: query options, projection, keyset paging, skip tokens.

The read path is built for throughput: each row is turned into its JSON object by SQLite itself
(``json_object``), so a page of 5,000 rows is one SQL statement whose text results are joined
into the answer with no per-row Python beyond a list join. Paging is keyset paging: the opaque
``$skiptoken`` carries the sort values and primary key of the last row sent, signed so that a
token edited by the client is refused with a 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from crmsync.emulators.dataverse.errors import odata_error
from crmsync.emulators.dataverse.filters import compile_filter, unknown_property
from crmsync.emulators.dataverse.formatting import AnnotationMode, Annotator
from crmsync.emulators.dataverse.rowjson import JSON_COLUMN, readable_attributes, row_json
from crmsync.emulators.dataverse.schema import Attribute, Table
from crmsync.emulators.dataverse.store import DataverseStore

__all__ = [
    "COUNT_LIMIT",
    "Page",
    "QueryOptions",
    "SkipTokenCodec",
    "collection_body",
    "parse_options",
    "read_page",
    "read_record",
]

#: ``$count`` and ``@odata.count`` never report more than this (as Dataverse does).
COUNT_LIMIT = 5000
_SUPPORTED = {"$select", "$filter", "$orderby", "$top", "$count", "$skiptoken", "$expand"}
_TRACKING = {"$deltatoken"}


@dataclass(slots=True)
class QueryOptions:
    """The system query options of one request, validated against the table."""

    select: tuple[Attribute, ...]
    select_names: tuple[str, ...] = ()
    filter: str | None = None
    orderby: tuple[tuple[Attribute, bool], ...] = ()
    top: int | None = None
    count: bool = False
    skiptoken: str | None = None
    deltatoken: str | None = None
    raw: dict[str, str] = field(default_factory=dict)


def _split_names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_options(table: Table, params: Mapping[str, str]) -> QueryOptions:
    """Validate the ``$`` options of a query on ``table``; unknown or bad ones → 400."""
    for name in params:
        if name.startswith("$") and name not in _SUPPORTED and name not in _TRACKING:
            raise odata_error(f"The query parameter {name} is not supported")
    if "$expand" in params:
        raise odata_error("The query option $expand is not supported by this emulator.", 501)
    select_names: tuple[str, ...] = ()
    if "$select" in params:
        select_names = tuple(_split_names(params["$select"]))
        attributes = []
        for name in select_names:
            attribute = table.by_wire_name.get(name)
            if attribute is None or not attribute.valid_for_read:
                raise unknown_property(table, name)
            if attribute not in attributes:
                attributes.append(attribute)
        select = tuple(attributes)
        if set(attributes) == set(readable_attributes(table)):
            select = readable_attributes(table)
    else:
        select = readable_attributes(table)
    orderby: list[tuple[Attribute, bool]] = []
    for clause in _split_names(params.get("$orderby", "")):
        parts = clause.split()
        direction = parts[1].lower() if len(parts) == 2 else "asc"
        if len(parts) > 2 or direction not in ("asc", "desc"):
            raise odata_error(f"Syntax error in $orderby clause '{clause}'.")
        attribute = table.by_wire_name.get(parts[0])
        if attribute is None or not attribute.valid_for_read:
            raise unknown_property(table, parts[0])
        orderby.append((attribute, direction == "desc"))
    top: int | None = None
    if "$top" in params:
        try:
            top = int(params["$top"])
        except ValueError:
            raise odata_error(
                f"Invalid value '{params['$top']}' for $top query option found. The $top query "
                "option requires a non-negative integer value."
            ) from None
        if top < 0:
            raise odata_error(
                f"Invalid value '{top}' for $top query option found. The $top query option "
                "requires a non-negative integer value."
            )
    count_text = params.get("$count", "false").lower()
    if count_text not in ("true", "false"):
        raise odata_error(f"'{params['$count']}' is not a valid count option.")
    return QueryOptions(
        select=select,
        select_names=select_names,
        filter=params.get("$filter"),
        orderby=tuple(orderby),
        top=top,
        count=count_text == "true",
        skiptoken=params.get("$skiptoken"),
        deltatoken=params.get("$deltatoken"),
        raw=dict(params),
    )


class SkipTokenCodec:
    """Signs and checks the opaque ``$skiptoken`` values (keyset cursors)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def _mac(self, payload: bytes) -> str:
        digest = hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def encode(self, scope: str, values: Sequence[Any]) -> str:
        payload = orjson.dumps([scope, list(values)])
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        return f"{body}.{self._mac(payload)}"

    def decode(self, scope: str, token: str) -> list[Any]:
        """The values in ``token``; a token not made by us for ``scope`` → 400."""
        invalid = odata_error("The $skiptoken value is not valid for this query.")
        body, _, mac = token.partition(".")
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (ValueError, TypeError):
            raise invalid from None
        if not mac or not hmac.compare_digest(mac, self._mac(payload)):
            raise invalid
        decoded = orjson.loads(payload)
        if not isinstance(decoded, list) or len(decoded) != 2 or decoded[0] != scope:
            raise invalid
        values = decoded[1]
        if not isinstance(values, list):
            raise invalid
        return values


# --- projection ---------------------------------------------------------------------------------


class Projection:
    """The SQL expression giving each record's JSON text, restricted to some attributes."""

    def __init__(self, table: Table, sa_table: sa.Table, attributes: Sequence[Attribute]) -> None:
        rendered = row_json(table, sa_table, attributes)
        if tuple(attributes) == readable_attributes(table):
            # The stored text when the row has it (``coalesce`` renders only the rows without).
            self.expression: Any = sa.func.coalesce(sa_table.c[JSON_COLUMN], rendered)
        else:
            self.expression = rendered


_projections: dict[tuple[sa.Table, tuple[str, ...]], Projection] = {}


def projection(store: DataverseStore, table: Table, attributes: Sequence[Attribute]) -> Projection:
    """The (cached) projection of ``attributes`` of ``table`` in ``store``."""
    sa_table = store.sa_table(table)
    key = (sa_table, tuple(a.logical_name for a in attributes))
    found = _projections.get(key)
    if found is None:
        found = Projection(table, sa_table, attributes)
        if len(_projections) >= 512:
            _projections.clear()
        _projections[key] = found
    return found


# --- paging -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Page:
    """One page of records, as JSON object texts (UTF-8), and the cursor for the next page."""

    rows: list[bytes]
    next_values: list[Any] | None
    count: int | None = None


def _after(sort: Sequence[tuple[Any, bool]], values: Sequence[Any]) -> Any:
    """The keyset condition "strictly after ``values``" in the order ``sort`` (NULLs lowest)."""
    alternatives = []
    for index, (column, descending) in enumerate(sort):
        equal = [
            (col.is_(None) if val is None else col == val)
            for (col, _), val in zip(sort[:index], values[:index], strict=True)
        ]
        value = values[index]
        if descending:
            if value is None:
                continue
            step = sa.or_(column < value, column.is_(None))
        else:
            step = column.is_not(None) if value is None else column > value
        alternatives.append(sa.and_(*equal, step))
    return sa.or_(*alternatives) if alternatives else sa.false()


def read_page(
    store: DataverseStore,
    table: Table,
    options: QueryOptions,
    *,
    page_size: int,
    sort: Sequence[tuple[Attribute, bool]] | None = None,
    after: Sequence[Any] | None = None,
    where: Sequence[Any] = (),
    annotations: AnnotationMode = "none",
    unique_sort: bool = False,
) -> Page:
    """Up to ``page_size`` records matching ``options`` after the keyset position ``after``.

    The primary key ends the sort to make it total, unless ``unique_sort`` says the sort's own
    columns are unique already (e.g. the row version): a keyset on one indexed column lets
    SQLite read a page straight from the index instead of sorting every row after the position.
    """
    sa_table = store.sa_table(table)
    primary = table.by_name[table.primary_id]
    order = list(sort if sort is not None else options.orderby)
    if not unique_sort and all(attribute is not primary for attribute, _ in order):
        order.append((primary, False))
    sort_columns = [(sa_table.c[a.logical_name], desc) for a, desc in order]
    conditions: list[Any] = list(where)
    if options.filter is not None:
        conditions.append(compile_filter(table, sa_table.c, options.filter))
    count: int | None = None
    annotator = Annotator(store, table, options.select, annotations)
    with store.reading() as conn:
        if options.count:
            matching: sa.Select[Any] = sa.select(sa.literal_column("1")).select_from(sa_table)
            counted = matching.where(*conditions).limit(COUNT_LIMIT).subquery()
            count = int(conn.execute(sa.select(sa.func.count()).select_from(counted)).scalar_one())
        if after is not None:
            if len(after) != len(sort_columns):
                raise odata_error("The $skiptoken value is not valid for this query.")
            conditions.append(_after(sort_columns, after))
        statement = (
            sa.select(
                annotator.row_bytes(projection(store, table, options.select).expression),
                *(column for column, _ in sort_columns),
            )
            .where(*conditions)
            .order_by(*(column.desc() if desc else column.asc() for column, desc in sort_columns))
            .limit(page_size + 1)
        )
        result = conn.execute(statement).all()
    more = len(result) > page_size
    if more:
        result = result[:page_size]
    rows = [row[0] for row in result]
    next_values = list(result[-1][1:]) if more and result else None
    return Page(rows, next_values, count)


def read_record(
    store: DataverseStore,
    table: Table,
    attributes: Sequence[Attribute],
    where: Any,
    annotations: AnnotationMode = "none",
) -> str | None:
    """One record as its JSON text, or ``None`` when no row matches ``where``."""
    sa_table = store.sa_table(table)
    annotator = Annotator(store, table, attributes, annotations)
    statement = sa.select(annotator.row_bytes(projection(store, table, attributes).expression))
    with store.reading() as conn:
        row = conn.execute(statement.select_from(sa_table).where(where).limit(1)).first()
    if row is None:
        return None
    return bytes(row[0]).decode()


def collection_body(
    context: str,
    rows: Sequence[bytes],
    *,
    count: int | None = None,
    next_link: str | None = None,
    delta_link: str | None = None,
    extra_rows: Sequence[bytes] = (),
) -> bytes:
    """The JSON answer of a collection read (rows are already JSON texts, UTF-8)."""
    parts = [b'{"@odata.context":', orjson.dumps(context)]
    if count is not None:
        parts.append(b',"@odata.count":%d' % count)
    parts.append(b',"value":[')
    parts.append(b",".join([*rows, *extra_rows]) if extra_rows else b",".join(rows))
    parts.append(b"]")
    if next_link is not None:
        parts.append(b',"@odata.nextLink":' + orjson.dumps(next_link))
    if delta_link is not None:
        parts.append(b',"@odata.deltaLink":' + orjson.dumps(delta_link))
    parts.append(b"}")
    return b"".join(parts)
