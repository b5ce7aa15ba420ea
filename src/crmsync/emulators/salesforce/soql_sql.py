"""Translate a parsed SOQL statement into SQLAlchemy Core over the store's tables.

Names are checked against the schema (``INVALID_TYPE``, ``INVALID_FIELD``) and every value goes
into the statement as a bound parameter, converted to the stored form of the field it is compared
with. SOQL's null semantics are kept: ``!=`` and ``NOT IN`` also match records whose field is
null, and ``NOT`` of a condition that is unknown for a record matches it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from crmsync.emulators.salesforce.ids import normalize_id
from crmsync.emulators.salesforce.schema import (
    NUMBER_TYPES,
    TEXT_TYPES,
    Field,
    FieldType,
    Schema,
    SObject,
)
from crmsync.emulators.salesforce.soql import (
    BoolOp,
    Comparison,
    Condition,
    CountAll,
    FieldPath,
    InList,
    Literal,
    Not,
    Query,
    SoqlError,
)
from crmsync.emulators.salesforce.store import SalesforceStore, format_datetime

#: Ordering comparisons by operator (the operator module applies SQLAlchemy's overloads).
_ORDERING: dict[str, Callable[[Any, Any], ColumnElement[Any]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
}

__all__ = ["CompiledQuery", "OrderKey", "Selected", "compile_query", "parse_datetime"]

_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):?(\d{2}))$"
)


def parse_datetime(text: str) -> datetime | None:
    """An ISO 8601 date-time as SOQL and the replication endpoints accept it, or ``None``."""
    match = _DATETIME_RE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    millis = int((match[7] or "0")[:3].ljust(3, "0"))
    try:
        when = datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    except ValueError:
        return None
    if match[8] != "Z":
        offset = timedelta(hours=int(match[10]), minutes=int(match[11]))
        when -= offset if match[9] == "+" else -offset
    return when


@dataclass(frozen=True, slots=True)
class Selected:
    """One selected field: on the queried object (``relationship is None``) or a parent."""

    field: Field
    relationship: str | None = None  # relationship name as published (``Account``)


@dataclass(frozen=True, slots=True)
class OrderKey:
    column: ColumnElement[Any]
    descending: bool
    nulls_last: bool


@dataclass(slots=True)
class _Join:
    relationship: str
    target: SObject
    alias: Any  # an aliased sa.Table
    reference: Field


@dataclass(slots=True)
class CompiledQuery:
    """Everything needed to run a SOQL statement against the store, page by page."""

    obj: SObject
    table: sa.Table
    count_only: bool
    selected: list[Selected]
    joins: dict[str, _Join]
    where: list[ColumnElement[Any]] = field(default_factory=list)
    order: list[OrderKey] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    #: Relationships the WHERE clause uses (the others do not change which records match).
    filtering_joins: frozenset[str] = frozenset()

    def from_clause(self, *, for_count: bool = False) -> Any:
        """The queried table with its parents joined (for a count: only those filtered on)."""
        clause: Any = self.table
        for key, join in self.joins.items():
            if for_count and key not in self.filtering_joins:
                continue
            clause = clause.outerjoin(
                join.alias,
                sa.and_(
                    join.alias.c.Id == self.table.c[join.reference.name],
                    join.alias.c.IsDeleted == 0,
                ),
            )
        return clause

    def columns(self) -> list[ColumnElement[Any]]:
        """Selected columns: ``Id`` first, then the fields, then each parent's ``Id``.

        Checkboxes are stored as 0/1; they are read as booleans (SQLAlchemy converts them).
        """
        result: list[ColumnElement[Any]] = [self.table.c.Id]
        for item in self.selected:
            if item.relationship is None:
                column: ColumnElement[Any] = self.table.c[item.field.name]
            else:
                column = self.joins[item.relationship.lower()].alias.c[item.field.name]
            if item.field.type == FieldType.BOOLEAN:
                column = sa.type_coerce(column, sa.Boolean)
            result.append(column)
        for join in self.joins.values():
            result.append(join.alias.c.Id)
        return result


def _no_column(path: FieldPath, obj: SObject) -> SoqlError:
    return SoqlError(
        f"No such column '{path.text}' on entity '{obj.name}'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name. Please reference "
        "your WSDL or the describe call for the appropriate names.",
        path.pos,
        "INVALID_FIELD",
    )


def _bad_relationship(path: FieldPath) -> SoqlError:
    return SoqlError(
        f"Didn't understand relationship '{path.parts[0]}' in field path. If you are attempting "
        "to use a custom relationship, be sure to append the '__r' after the custom relationship "
        "name. Please reference your WSDL or the describe call for the appropriate names.",
        path.pos,
        "INVALID_FIELD",
    )


class _Compiler:
    def __init__(self, query: Query, schema: Schema, store: SalesforceStore, now: datetime):
        obj = schema.get(query.sobject)
        if obj is None:
            raise SoqlError(
                f"sObject type '{query.sobject}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
                query.sobject_pos,
                "INVALID_TYPE",
            )
        self.query = query
        self.schema = schema
        self.store = store
        self.now = now
        self.obj = obj
        self.table = store.table(obj)
        self.joins: dict[str, _Join] = {}
        self.used_in_where: set[str] = set()

    def resolve(self, path: FieldPath) -> tuple[Field, ColumnElement[Any], str | None]:
        parts = path.parts
        if len(parts) == 2 and parts[0].lower() == self.obj.name.lower():
            parts = parts[1:]  # ``Contact.Email`` on Contact
        if len(parts) == 1:
            found = self.obj.field(parts[0])
            if found is None:
                raise _no_column(path, self.obj)
            return found, self.table.c[found.name], None
        if len(parts) != 2:
            raise _bad_relationship(path)
        reference = self.obj.relationships.get(parts[0].lower())
        target = self.schema.get(reference.reference_to[0]) if reference else None
        if reference is None or target is None or reference.relationship_name is None:
            raise _bad_relationship(path)
        key = reference.relationship_name.lower()
        if key not in self.joins:
            alias = sa.alias(self.store.table(target), name=f"rel_{len(self.joins)}")
            self.joins[key] = _Join(reference.relationship_name, target, alias, reference)
        join = self.joins[key]
        found = target.field(parts[1])
        if found is None:
            raise _no_column(FieldPath(parts[1:], path.pos), target)
        return found, join.alias.c[found.name], join.relationship

    def compile(self, include_deleted: bool) -> CompiledQuery:
        query = self.query
        selected: list[Selected] = []
        if not isinstance(query.fields, CountAll):
            seen: set[tuple[str | None, str]] = set()
            for path in query.fields:
                found, _, relationship = self.resolve(path)
                key = (relationship, found.name)
                if key in seen:
                    raise SoqlError(f"duplicate field selected: {path.text}", path.pos)
                seen.add(key)
                selected.append(Selected(found, relationship))
        where: list[ColumnElement[Any]] = []
        if not include_deleted:
            where.append(self.table.c.IsDeleted == 0)
        joined_before = set(self.joins)
        if query.where is not None:
            where.append(self.condition(query.where))
        filtering = set(self.used_in_where) | (set(self.joins) - joined_before)
        order = [
            OrderKey(self.resolve(term.field)[1], term.descending, term.nulls_last)
            for term in query.order
        ]
        if not any(key.column is self.table.c.Id for key in order):
            order.append(OrderKey(self.table.c.Id, False, False))
        return CompiledQuery(
            self.obj,
            self.table,
            isinstance(query.fields, CountAll),
            selected,
            self.joins,
            where,
            order,
            query.limit,
            query.offset or 0,
            frozenset(filtering),
        )

    # --- conditions ------------------------------------------------------------------------------

    def condition(self, node: Condition) -> ColumnElement[Any]:
        if isinstance(node, BoolOp):
            parts = [self.condition(item) for item in node.items]
            return sa.and_(*parts) if node.op == "AND" else sa.or_(*parts)
        if isinstance(node, Not):
            # SOQL's NOT matches records for which the inner condition is unknown (nulls).
            return sa.not_(sa.func.coalesce(self.condition(node.item), sa.false()))
        if isinstance(node, InList):
            found, column, relationship = self.resolve(node.field)
            if relationship is not None:
                self.used_in_where.add(relationship.lower())
            values = [self.value(found, literal, "IN") for literal in node.values]
            if node.negated:
                return sa.or_(column.not_in(values), column.is_(None))
            return column.in_(values)
        return self.comparison(node)

    def comparison(self, node: Comparison) -> ColumnElement[Any]:
        found, column, relationship = self.resolve(node.field)
        if relationship is not None:
            self.used_in_where.add(relationship.lower())
        literal = node.value
        op = node.op
        if literal.kind == "null":
            if op == "=":
                return column.is_(None)
            if op == "!=":
                return column.is_not(None)
            raise SoqlError(f"invalid operator on null: {op}", literal.pos)
        if op == "LIKE":
            if found.type not in TEXT_TYPES or literal.kind != "string":
                raise SoqlError(
                    f"invalid operator on field '{found.name}': LIKE",
                    node.field.pos,
                    "INVALID_FIELD",
                )
            return column.like(literal.like, escape="\\")
        if literal.kind == "relative":
            return self.relative(found, column, op, literal)
        value: Any = self.value(found, literal, op)
        if op == "=":
            return _ORDERING["="](column, value)
        if op == "!=":
            return column.is_distinct_from(value)
        if found.type == FieldType.BOOLEAN:
            raise SoqlError(
                f"invalid operator on boolean field '{found.name}': {op}", node.field.pos
            )
        return _ORDERING[op](column, value)

    def value(self, found: Field, literal: Literal, op: str) -> Any:
        kind = found.type
        if literal.kind == "null":
            return None
        if kind in TEXT_TYPES:
            if literal.kind != "string":
                raise self.type_error(found, literal, "string", quoted=True)
            return literal.text
        if kind in (FieldType.ID, FieldType.REFERENCE):
            if literal.kind != "string":
                raise self.type_error(found, literal, "id", quoted=True)
            normalized = normalize_id(literal.text)
            if normalized is None:
                raise SoqlError(
                    f"invalid ID field: {literal.text}",
                    literal.pos,
                    "INVALID_QUERY_FILTER_OPERATOR",
                )
            return normalized
        if kind == FieldType.BOOLEAN:
            if literal.kind != "boolean":
                raise self.type_error(found, literal, "boolean")
            return 1 if literal.text == "TRUE" else 0
        if kind in NUMBER_TYPES:
            if literal.kind != "number":
                raise self.type_error(found, literal, "number")
            number = float(literal.text)
            return int(number) if kind == FieldType.INT and number.is_integer() else number
        if kind == FieldType.DATE:
            if literal.kind != "date":
                raise self.type_error(found, literal, "date")
            try:
                return date.fromisoformat(literal.text).isoformat()
            except ValueError:
                raise self.type_error(found, literal, "date") from None
        if literal.kind != "datetime":
            raise self.type_error(found, literal, "dateTime")
        when = parse_datetime(literal.text)
        if when is None:
            raise self.type_error(found, literal, "dateTime")
        return format_datetime(when)

    def type_error(
        self, found: Field, literal: Literal, kind: str, quoted: bool = False
    ) -> SoqlError:
        how = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        return SoqlError(
            f"value of filter criterion for field '{found.name}' must be of type {kind} and {how}",
            literal.pos,
            "INVALID_FIELD",
        )

    def relative(
        self, found: Field, column: ColumnElement[Any], op: str, literal: Literal
    ) -> ColumnElement[Any]:
        if found.type not in (FieldType.DATE, FieldType.DATETIME):
            raise self.type_error(found, literal, found.type.value)
        start, end = relative_range(literal.text, literal.n, self.now)
        if found.type == FieldType.DATE:
            low: str = start.date().isoformat()
            high: str = end.date().isoformat()
        else:
            low, high = format_datetime(start), format_datetime(end)
        if op == "=":
            return sa.and_(column >= low, column < high)
        if op == "!=":
            return sa.or_(column < low, column >= high, column.is_(None))
        if op == "<":
            return column < low
        if op == "<=":
            return column < high
        return column >= high if op == ">" else column >= low


def relative_range(name: str, n: int | None, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of a relative date literal (weeks start on Sunday)."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day = timedelta(days=1)
    count = n or 0
    week = today - timedelta(days=(today.weekday() + 1) % 7)
    month = today.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    ranges = {
        "YESTERDAY": (today - day, today),
        "TODAY": (today, today + day),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_WEEK": (week - 7 * day, week),
        "THIS_WEEK": (week, week + 7 * day),
        "NEXT_WEEK": (week + 7 * day, week + 14 * day),
        "LAST_MONTH": ((month - day).replace(day=1), month),
        "THIS_MONTH": (month, next_month),
        "NEXT_MONTH": (next_month, (next_month + timedelta(days=32)).replace(day=1)),
        "LAST_N_DAYS": (today - count * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (count + 1) * day),
        "N_DAYS_AGO": (today - count * day, today - (count - 1) * day),
        "LAST_N_HOURS": (now - timedelta(hours=count), now),
        "NEXT_N_HOURS": (now, now + timedelta(hours=count)),
    }
    return ranges[name]


def compile_query(
    query: Query, store: SalesforceStore, now: datetime, *, include_deleted: bool = False
) -> CompiledQuery:
    """Check ``query`` against the schema and translate it; raises :class:`SoqlError`."""
    return _Compiler(query, store.schema, store, now).compile(include_deleted)
