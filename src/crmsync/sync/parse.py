"""Parsing CRM values: a raw value as the CRM sent it → the typed value of its CRM type.

A *parser* turns a raw, non-null CRM value (a JSON value) into the typed value of the field's
:class:`~crmsync.connectors.base.CrmType`: ``bool``, ``int``, ``float``, ``str``, an aware UTC
``datetime`` or a ``date``. Filters and replacements compare these typed values; the emitters of
:mod:`crmsync.sync.convert` write them to Campaign fields. Parsers are chosen once per field when a
mapping is compiled.

A value that cannot be parsed raises :class:`ConversionError` with a :class:`RejectCode`; the
compiled mapping turns it into a :class:`~crmsync.errors.RejectError` naming the record and field.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson

from crmsync.connectors.base import CrmType, FieldInfo

__all__ = [
    "ConversionError",
    "Parser",
    "RejectCode",
    "UnsupportedConversion",
    "config_value",
    "crm_parser",
    "datetime_parser",
    "datetime_text",
    "is_text_parser",
    "number_text",
    "option_labels",
    "options_are_ints",
    "parse_bool",
    "parse_date",
    "parse_float",
    "parse_int",
    "text_of",
    "wrong_type",
]

#: A raw, non-null CRM value → its typed value.
Parser = Callable[[Any], Any]

_TZ_INDEPENDENT = "TimeZoneIndependent"


class RejectCode(StrEnum):
    """Why a record was rejected by the transformation (the ``code`` of its RejectError)."""

    #: The value's JSON type does not fit the field's CRM type (e.g. a list for an Integer).
    WRONG_TYPE = "WRONG_TYPE"
    #: The value has the right JSON type but does not parse (e.g. a malformed date).
    INVALID_VALUE = "INVALID_VALUE"
    #: A text is longer than the Campaign field allows (never silently truncated).
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    #: A number does not fit the Campaign field (64-bit integer, single-precision float).
    VALUE_OUT_OF_RANGE = "VALUE_OUT_OF_RANGE"
    #: Display labels are written but the picklist value has no known label.
    UNKNOWN_OPTION = "UNKNOWN_OPTION"
    #: The value is empty and the Campaign field is not nullable and has no default.
    VALUE_REQUIRED = "VALUE_REQUIRED"
    #: The record's link to its parent is empty and the link's cardinality is ``1``.
    PARENT_REQUIRED = "PARENT_REQUIRED"
    #: The record has no id.
    MISSING_ID = "MISSING_ID"


class ConversionError(Exception):
    """A value could not be converted; ``code`` says why, the message says how."""

    def __init__(self, code: RejectCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UnsupportedConversion(Exception):
    """A mapping or filter that can never work with this metadata (a configuration error)."""


def _shown(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def wrong_type(raw: Any, expected: str) -> ConversionError:
    return ConversionError(
        RejectCode.WRONG_TYPE, f"expected {expected}, got {type(raw).__name__} {_shown(raw)}"
    )


def _invalid(raw: Any, expected: str) -> ConversionError:
    return ConversionError(RejectCode.INVALID_VALUE, f"{_shown(raw)} is not {expected}")


# --- parsers: raw CRM value → typed value -------------------------------------------------------


def parse_bool(raw: Any) -> bool:
    if raw is True or raw is False:
        return raw
    if type(raw) is int and raw in (0, 1):
        return raw == 1
    if isinstance(raw, str):
        lowered = raw.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise _invalid(raw, "a boolean")
    raise wrong_type(raw, "a boolean")


def parse_int(raw: Any) -> int:
    kind = type(raw)
    if kind is int:
        return int(raw)
    if kind is float:
        if raw.is_integer():
            return int(raw)
        raise _invalid(raw, "a whole number")
    if kind is str or kind is Decimal:
        try:
            number = Decimal(raw.strip() if kind is str else raw)
        except ArithmeticError:
            raise _invalid(raw, "a whole number") from None
        if number.is_finite() and number == number.to_integral_value():
            return int(number)
        raise _invalid(raw, "a whole number")
    raise wrong_type(raw, "a whole number")


def parse_float(raw: Any) -> float:
    kind = type(raw)
    if kind is float:
        value: float = raw
    elif kind is int or kind is Decimal:
        value = float(raw)
    elif kind is str:
        try:
            value = float(raw)
        except ValueError:
            raise _invalid(raw, "a number") from None
    else:
        raise wrong_type(raw, "a number")
    if not math.isfinite(value):
        raise _invalid(raw, "a finite number")
    return value


def _parse_text(raw: Any) -> str:
    if type(raw) is str:
        return str(raw)
    raise wrong_type(raw, "a string")


def datetime_parser(behavior: str | None) -> Parser:
    naive_is_utc = behavior == _TZ_INDEPENDENT

    def parse(raw: Any) -> datetime:
        if type(raw) is str:
            try:
                value = datetime.fromisoformat(raw)
            except ValueError:
                raise _invalid(raw, "an ISO 8601 date and time") from None
        elif isinstance(raw, datetime):
            value = raw
        else:
            raise wrong_type(raw, "an ISO 8601 date and time")
        if value.tzinfo is UTC:
            return value
        if value.tzinfo is None or value.utcoffset() is None:
            if naive_is_utc:
                return value.replace(tzinfo=UTC)
            raise ConversionError(
                RejectCode.INVALID_VALUE,
                f"{_shown(raw)} has no time zone: a date and time must end with Z or an offset",
            )
        return value.astimezone(UTC)

    return parse


def parse_date(raw: Any) -> date:
    """A calendar date as written: a time or offset after it never moves it to another day."""
    if type(raw) is str:
        try:
            if len(raw) == 10:
                return date.fromisoformat(raw)
            if len(raw) > 10 and raw[10] in "T ":
                datetime.fromisoformat(raw)  # the whole text must be valid, not only its date
                return date.fromisoformat(raw[:10])
        except ValueError:
            pass
        raise _invalid(raw, "an ISO 8601 date (YYYY-MM-DD)")
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    raise wrong_type(raw, "an ISO 8601 date (YYYY-MM-DD)")


def _parse_other(raw: Any) -> Any:
    return raw


def _parse_option_free(raw: Any) -> int | str:
    if type(raw) is int or type(raw) is str:
        return raw
    raise wrong_type(raw, "a picklist value")


def options_are_ints(info: FieldInfo) -> bool | None:
    """Whether the picklist's options are numbers (Dataverse), text (Salesforce), or unknown."""
    kinds = {type(option.value) for option in info.options}
    if not kinds:
        return None
    return kinds == {int}


def crm_parser(info: FieldInfo) -> Parser:
    """The parser of ``info``'s values."""
    match info.type:
        case CrmType.BOOLEAN:
            return parse_bool
        case CrmType.INTEGER | CrmType.BIGINT:
            return parse_int
        case CrmType.DECIMAL | CrmType.DOUBLE | CrmType.MONEY:
            return parse_float
        case CrmType.STRING | CrmType.MEMO | CrmType.LOOKUP | CrmType.UNIQUEIDENTIFIER:
            return _parse_text
        case CrmType.DATETIME:
            return datetime_parser(info.date_behavior)
        case CrmType.DATE:
            return parse_date
        case CrmType.PICKLIST:
            ints = options_are_ints(info)
            if ints is None:
                return _parse_option_free
            return parse_int if ints else _parse_text
        case CrmType.OTHER:
            return _parse_other
    raise AssertionError(info.type)  # pragma: no cover - the match is exhaustive


def is_text_parser(parser: Parser) -> bool:
    """Whether ``parser`` yields text (string operations and case-insensitive comparison)."""
    return parser is _parse_text


def option_labels(info: FieldInfo) -> dict[Any, str]:
    """Option value → display label, from the metadata."""
    return {option.value: option.label for option in info.options if option.label}


def config_value(info: FieldInfo, value: Any) -> Any:
    """A value written in the configuration (a filter or a replacement), as a typed CRM value.

    Parsed like a CRM value of the field, with two conveniences: a picklist or boolean value may
    be given by its display label, and a date and time without a zone is taken as UTC.
    Raises :class:`UnsupportedConversion` when it cannot be a value of the field.
    """
    if info.type in (CrmType.PICKLIST, CrmType.BOOLEAN):
        by_label = {o.label.casefold(): o.value for o in info.options if o.label}
        try:
            parsed = crm_parser(info)(value)
        except ConversionError:
            parsed = None
        known = {o.value for o in info.options}
        if (parsed is None or (known and parsed not in known)) and isinstance(value, str):
            found = by_label.get(value.strip().casefold())
            if found is not None:
                return found
        if parsed is not None:
            return parsed
        values = ", ".join(f"{o.value!r} ({o.label})" for o in info.options)
        hint = f" (values: {values})" if values else ""
        raise UnsupportedConversion(f"{value!r} is not a value of {info.type.value} field{hint}")
    if info.type is CrmType.DATETIME and isinstance(value, str):
        info = FieldInfo(info.name, info.type, date_behavior=_TZ_INDEPENDENT)
    try:
        return crm_parser(info)(value)
    except ConversionError as exc:
        raise UnsupportedConversion(exc.message) from None


def number_text(value: float) -> str:
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def datetime_text(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def text_of(raw: Any) -> str:
    """A value of a type crmsync does not know, written as a string as is (JSON for structures)."""
    if isinstance(raw, str):
        return raw
    if raw is True or raw is False:
        return "true" if raw else "false"
    if isinstance(raw, float):
        return number_text(raw)
    if isinstance(raw, int | Decimal):
        return str(raw)
    try:
        return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return str(raw)
