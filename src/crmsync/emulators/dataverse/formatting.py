"""Formatted values and lookup annotations (``Prefer: odata.include-annotations``).

Dataverse adds, beside a raw value, ``<name>@OData.Community.Display.V1.FormattedValue`` with
the value as a user sees it: the option label of a choice or yes/no, the primary name of a
looked-up record, money with its currency symbol, numbers with thousands separators, dates in the
user's format. With ``"*"`` lookups also carry ``@Microsoft.Dynamics.CRM.lookuplogicalname`` and
``@Microsoft.Dynamics.CRM.associatednavigationproperty``. The emulated user works in US English
and UTC.

:func:`annotations_sql` renders the annotations of a row as JSON text inside the database
(looked-up names come from correlated sub-queries). The store keeps the formatted values of every
readable attribute that way in a hidden column, refreshed by each write and by each write to a
looked-up record; :class:`Annotator` reads it, or computes the text for other shapes and modes,
and splices it into each row's JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from crmsync.emulators.dataverse.rowjson import (
    ANNOTATIONS_COLUMN,
    lookup_type_column,
    readable_attributes,
)
from crmsync.emulators.dataverse.schema import (
    LOOKUP_TYPES,
    OPTION_TYPES,
    Attribute,
    AttributeType,
    Schema,
    Table,
)

if TYPE_CHECKING:
    from crmsync.emulators.dataverse.store import DataverseStore

__all__ = [
    "FORMATTED",
    "LOOKUP_LOGICAL_NAME",
    "NAVIGATION_PROPERTY",
    "AnnotationMode",
    "Annotator",
    "annotations_sql",
    "format_value",
    "formatted_sql",
    "parse_include_annotations",
]

AnnotationMode = Literal["none", "formatted", "lookup", "all"]
FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION_PROPERTY = "Microsoft.Dynamics.CRM.associatednavigationproperty"


def parse_include_annotations(prefer: str) -> tuple[AnnotationMode, str | None]:
    """The annotation mode asked for in a ``Prefer`` header, and the preference to echo."""
    for part in prefer.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() != "odata.include-annotations":
            continue
        requested = value.strip().strip('"')
        patterns = {p.strip() for p in requested.split(",")}
        formatted = bool(patterns & {"*", FORMATTED, "OData.Community.Display.V1.*"})
        lookup = bool(
            patterns & {"*", "Microsoft.Dynamics.CRM.*", LOOKUP_LOGICAL_NAME, NAVIGATION_PROPERTY}
        )
        mode: AnnotationMode = (
            "all"
            if formatted and lookup
            else "formatted"
            if formatted
            else "lookup"
            if lookup
            else "none"
        )
        return mode, f'odata.include-annotations="{requested}"'
    return "none", None


def _us_date(value: date) -> str:
    return f"{value.month}/{value.day}/{value.year}"


def _us_datetime(text: str) -> str:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    hour = when.hour % 12 or 12
    suffix = "AM" if when.hour < 12 else "PM"
    return f"{_us_date(when.date())} {hour}:{when.minute:02d} {suffix}"


def _money(value: float) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def format_value(attribute: Attribute, value: Any) -> str | None:
    """The formatted value of a stored ``value`` of ``attribute`` (``None``: no annotation)."""
    if value is None:
        return None
    kind = attribute.type
    if kind in OPTION_TYPES or kind == AttributeType.BOOLEAN:
        return attribute.option_label(int(value))
    if kind == AttributeType.MONEY:
        return _money(float(value))
    if kind in (AttributeType.INTEGER, AttributeType.BIGINT):
        return f"{int(value):,}"
    if kind in (AttributeType.DECIMAL, AttributeType.DOUBLE):
        return f"{float(value):,.2f}"
    if kind == AttributeType.DATETIME:
        if attribute.datetime_behavior == "DateOnly":
            return _us_date(date.fromisoformat(str(value)[:10]))
        return _us_datetime(str(value))
    return None


def _cat(*parts: Any) -> Any:
    """SQL string concatenation (``||``) whatever SQLAlchemy infers about the parts' types."""
    result: Any = sa.type_coerce(parts[0], sa.Text)
    for part in parts[1:]:
        result = result.op("||", return_type=sa.Text)(part)
    return result


def _text(value: Any) -> Any:
    return sa.cast(value, sa.Text)


def _fragment(key: str, value: Any) -> Any:
    """SQL text ``,"key":"<value>"`` or ``''`` when ``value`` is NULL (no annotation, as in
    Dataverse).

    ``json_quote(NULL)`` is the text ``null``, while every value here is text and so quoted:
    ``nullif`` turns the former back into NULL.
    """
    quoted = sa.func.nullif(sa.func.json_quote(value), "null")
    return sa.func.coalesce(_cat(sa.literal(f',"{key}":'), quoted), "")


def _number(value: Any, decimals: bool) -> Any:
    """SQL: ``abs(value)`` with thousands separators (and two decimals)."""
    rounded = sa.func.round(sa.func.abs(value), 2)
    digits = sa.func.printf("%,d", sa.cast(rounded, sa.Integer))
    if decimals:
        return _cat(digits, sa.func.substr(sa.func.printf("%.2f", rounded), -3))
    return _cat(digits)


def _sign(value: Any, text: Any) -> Any:
    return sa.case((value < 0, _cat("-", text)), else_=text)


def _us_date_sql(value: Any) -> Any:
    month = _text(sa.cast(sa.func.substr(value, 6, 2), sa.Integer))
    day = _text(sa.cast(sa.func.substr(value, 9, 2), sa.Integer))
    return _cat(month, "/", day, "/", sa.func.substr(value, 1, 4))


def _us_datetime_sql(value: Any) -> Any:
    hour = sa.cast(sa.func.substr(value, 12, 2), sa.Integer)
    hour12 = sa.case((hour % 12 == 0, 12), else_=hour % 12)
    suffix = sa.case((hour < 12, " AM"), else_=" PM")
    return _cat(_us_date_sql(value), " ", _text(hour12), ":", sa.func.substr(value, 15, 2), suffix)


def formatted_sql(attribute: Attribute, column: Any) -> Any | None:
    """SQL computing :func:`format_value` inside the database (``None``: not formatted)."""
    kind = attribute.type
    if kind in OPTION_TYPES or kind == AttributeType.BOOLEAN:
        whens = [(column == option.value, option.label) for option in attribute.options]
        return sa.case(*whens, else_=sa.null())
    if kind == AttributeType.MONEY:
        text = _sign(column, _cat("$", _number(column, decimals=True)))
    elif kind == AttributeType.INTEGER:
        text = _sign(column, _number(column, decimals=False))
    elif kind in (AttributeType.DECIMAL, AttributeType.DOUBLE):
        text = _sign(column, _number(column, decimals=True))
    elif kind == AttributeType.DATETIME and attribute.datetime_behavior == "DateOnly":
        text = _us_date_sql(column)
    elif kind == AttributeType.DATETIME:
        text = _us_datetime_sql(column)
    else:
        return None
    return sa.case((column.is_(None), sa.null()), else_=text)


def annotations_sql(
    schema: Schema,
    tables: Mapping[str, sa.Table],
    table: Table,
    attributes: Sequence[Attribute],
    mode: AnnotationMode,
) -> Any | None:
    """SQL text of the annotation members of ``attributes`` in ``mode`` (``None``: there are none).

    The text is the members to splice before a row's closing brace, in attribute order, each led
    by a comma (``''`` when a row has none). ``tables`` are the SQLAlchemy tables by logical name:
    looked-up names come from correlated sub-queries on them.
    """
    if mode == "none":
        return None
    sa_table = tables[table.logical_name]
    fragments: list[Any] = []
    formatted = mode in ("formatted", "all")
    for attribute in attributes:
        column = sa_table.c[attribute.logical_name]
        key = attribute.wire_name
        if attribute.type in LOOKUP_TYPES:
            fragments += _lookup(schema, tables, sa_table, attribute, mode)
        elif formatted and attribute.logical_name != "versionnumber":
            text = formatted_sql(attribute, column)
            if text is not None:
                fragments.append(_fragment(f"{key}@{FORMATTED}", text))
    return _cat(*fragments) if fragments else None


def _lookup(
    schema: Schema,
    tables: Mapping[str, sa.Table],
    sa_table: sa.Table,
    attribute: Attribute,
    mode: AnnotationMode,
) -> list[Any]:
    column = sa_table.c[attribute.logical_name]
    target_column = sa_table.c[lookup_type_column(attribute.logical_name)]
    names = []
    navigation = []
    for target_name in attribute.targets:
        target = schema.by_logical_name[target_name]
        inner = tables[target_name].alias(f"lk_{attribute.logical_name}_{target_name}")
        name = (
            sa.select(inner.c[target.primary_name])
            .where(inner.c[target.primary_id] == column)
            .scalar_subquery()
        )
        names.append((target_column == target_name, name))
        navigation.append(
            (target_column == target_name, attribute.navigation_property(target_name))
        )
    key = attribute.wire_name
    present = column.is_not(None)
    fragments: list[Any] = []
    if mode in ("formatted", "all"):
        label = sa.case((present, sa.case(*names, else_=sa.null())), else_=sa.null())
        fragments.append(_fragment(f"{key}@{FORMATTED}", label))
    if mode in ("lookup", "all"):
        nav = sa.case((present, sa.case(*navigation, else_=sa.null())), else_=sa.null())
        logical_name = sa.case((present, target_column), else_=sa.null())
        fragments.append(_fragment(f"{key}@{NAVIGATION_PROPERTY}", nav))
        fragments.append(_fragment(f"{key}@{LOOKUP_LOGICAL_NAME}", logical_name))
    return fragments


class Annotator:
    """Splices the annotations of ``attributes`` of ``table`` into each row's JSON, in SQL.

    Reads of every readable attribute with formatted values (what a sync asks for) take them
    from the store's ``_annotations`` column, rendered by each write (see
    :meth:`DataverseStore.refresh_json`), so they cost a column read; rows that have none stored
    (seeded into a data file) and other shapes and modes compute them in the page's SQL
    statement. Either way the database returns each row's
    finished text: no per-row Python.
    """

    def __init__(
        self,
        store: DataverseStore,
        table: Table,
        attributes: Sequence[Attribute],
        mode: AnnotationMode,
    ) -> None:
        #: SQL text of the annotation members (``None``: the rows have none).
        self.fragment: Any | None = None
        if mode == "none":
            return
        tables = {t.logical_name: store.sa_table(t) for t in store.schema.tables}
        self.fragment = annotations_sql(store.schema, tables, table, attributes, mode)
        if mode == "formatted" and tuple(attributes) == readable_attributes(table):
            # The stored text when the row has it (``coalesce`` renders only the rows without).
            stored = store.sa_table(table).c[ANNOTATIONS_COLUMN]
            rendered = sa.literal("") if self.fragment is None else self.fragment
            self.fragment = sa.func.coalesce(stored, rendered)

    def row_bytes(self, row_json: Any) -> Any:
        """SQL: ``row_json`` with the annotations spliced in, as UTF-8 bytes (a BLOB).

        A row's JSON ends with its primary key's string value, so the only closing brace at its
        end is the object's own: ``rtrim`` removes it, the annotations go in its place.
        """
        text = row_json
        if self.fragment is not None:
            text = _cat(sa.func.rtrim(row_json, "}"), self.fragment, "}")
        # The type has no result processor: the driver's bytes come through untouched.
        return sa.type_coerce(sa.cast(text, sa.LargeBinary), sa.types.NullType())
