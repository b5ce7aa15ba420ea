"""Formatted values and lookup annotations (``Prefer: odata.include-annotations``).

Dataverse adds, beside a raw value, ``<name>@OData.Community.Display.V1.FormattedValue`` with
the value as a user sees it: the option label of a choice or yes/no, the primary name of a
looked-up record, money with its currency symbol, numbers with thousands separators, dates in the
user's format. With ``"*"`` lookups also carry ``@Microsoft.Dynamics.CRM.lookuplogicalname`` and
``@Microsoft.Dynamics.CRM.associatednavigationproperty``. The emulated user works in US English
and UTC.

:class:`Annotator` adds the raw inputs it needs (including the looked-up names, as correlated
sub-queries) to the page's SQL statement and splices the annotations into each row's JSON text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson
import sqlalchemy as sa

from crmsync.emulators.dataverse.schema import (
    LOOKUP_TYPES,
    OPTION_TYPES,
    Attribute,
    AttributeType,
    Table,
)
from crmsync.emulators.dataverse.store import lookup_type_column

if TYPE_CHECKING:
    from crmsync.emulators.dataverse.store import DataverseStore

__all__ = [
    "FORMATTED",
    "LOOKUP_LOGICAL_NAME",
    "NAVIGATION_PROPERTY",
    "AnnotationMode",
    "Annotator",
    "format_value",
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


class Annotator:
    """Adds annotations to rows of ``table`` restricted to ``attributes``."""

    def __init__(
        self,
        store: DataverseStore,
        table: Table,
        attributes: Sequence[Attribute],
        mode: AnnotationMode,
    ) -> None:
        self.columns: list[Any] = []
        #: One step per extra column group: consumes values, fills the annotation dict.
        self._steps: list[tuple[int, Callable[[dict[str, Any], Sequence[Any]], None]]] = []
        if mode == "none":
            return
        sa_table = store.sa_table(table)
        for attribute in attributes:
            if attribute.type in LOOKUP_TYPES:
                self._add_lookup(store, table, sa_table, attribute, mode)
            elif mode in ("formatted", "all") and _formattable(attribute, table):
                self.columns.append(sa_table.c[attribute.logical_name])
                self._steps.append((1, _formatted_step(attribute)))

    def _add_lookup(
        self,
        store: DataverseStore,
        table: Table,
        sa_table: sa.Table,
        attribute: Attribute,
        mode: AnnotationMode,
    ) -> None:
        column = sa_table.c[attribute.logical_name]
        target_column = sa_table.c[lookup_type_column(attribute.logical_name)]
        names = []
        for target_name in attribute.targets:
            target = store.schema.by_logical_name[target_name]
            inner = store.sa_table(target).alias(f"lk_{attribute.logical_name}_{target_name}")
            names.append(
                (
                    target_column == target_name,
                    sa.select(inner.c[target.primary_name])
                    .where(inner.c[target.primary_id] == column)
                    .scalar_subquery(),
                )
            )
        self.columns.extend([column, target_column, sa.case(*names, else_=sa.null())])
        key = attribute.wire_name
        formatted = mode in ("formatted", "all")
        lookup = mode in ("lookup", "all")

        def step(out: dict[str, Any], values: Sequence[Any]) -> None:
            value, target, name = values
            if value is None:
                return
            if formatted and name is not None:
                out[f"{key}@{FORMATTED}"] = name
            if lookup and target is not None:
                out[f"{key}@{NAVIGATION_PROPERTY}"] = attribute.navigation_property(target)
                out[f"{key}@{LOOKUP_LOGICAL_NAME}"] = target

        self._steps.append((3, step))

    def apply(self, row_json: str, values: Sequence[Any]) -> str:
        """``row_json`` with the annotations computed from ``values`` (the extra columns)."""
        out: dict[str, Any] = {}
        offset = 0
        for width, step in self._steps:
            step(out, values[offset : offset + width])
            offset += width
        if not out:
            return row_json
        return row_json[:-1] + "," + orjson.dumps(out).decode()[1:]


def _formattable(attribute: Attribute, table: Table) -> bool:
    if attribute.logical_name == "versionnumber":
        return False
    return attribute.type in OPTION_TYPES or attribute.type in (
        AttributeType.BOOLEAN,
        AttributeType.MONEY,
        AttributeType.INTEGER,
        AttributeType.DECIMAL,
        AttributeType.DOUBLE,
        AttributeType.DATETIME,
    )


def _formatted_step(attribute: Attribute) -> Callable[[dict[str, Any], Sequence[Any]], None]:
    key = f"{attribute.wire_name}@{FORMATTED}"

    def step(out: dict[str, Any], values: Sequence[Any]) -> None:
        text = format_value(attribute, values[0])
        if text is not None:
            out[key] = text

    return step
