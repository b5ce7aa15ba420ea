"""Writing CRM values to Campaign fields, one emitter per mapped field chosen at compile time.

An *emitter* turns a typed CRM value (from :mod:`crmsync.sync.parse`) into the value of the
Campaign field's :class:`~crmsync.store.types.CampaignType`: numbers range-checked, text
length-checked (never silently truncated) and refused when it holds a NUL character, picklists
and booleans as technical values or display labels. A type pair that can never work raises
:class:`~crmsync.sync.parse.UnsupportedConversion` when the mapping is compiled.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from enum import IntEnum
from typing import Any

from crmsync.connectors.base import CrmType, FieldInfo, Record
from crmsync.mapping.types import is_compatible
from crmsync.store.resources import FieldDefinition
from crmsync.store.types import CampaignType
from crmsync.sync.parse import (
    ConversionError,
    Parser,
    RejectCode,
    UnsupportedConversion,
    crm_parser,
    datetime_parser,
    datetime_text,
    is_text_parser,
    number_text,
    option_labels,
    options_are_ints,
    parse_bool,
    parse_date,
    parse_float,
    parse_int,
    text_of,
    wrong_type,
)

__all__ = ["AS_IS", "Emitter", "Shape", "campaign_value", "emitter", "value_shape"]

#: A typed CRM value (and its record, for display labels) → the Campaign value.
Emitter = Callable[[Any, Record], Any]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FLOAT32_MAX = 3.4028234663852886e38
_NUMBERS = (CrmType.DECIMAL, CrmType.DOUBLE, CrmType.MONEY)
_TEXT_TARGETS = (CampaignType.STRING, CampaignType.TEXT)


def _label_emitter(info: FieldInfo, *, strict: bool) -> Emitter:
    """The display label: the record's formatted value, else the metadata's label."""
    wire = info.wire_name
    labels = option_labels(info)

    def emit(value: Any, record: Record) -> str:
        label = record.formatted.get(wire) or labels.get(value)
        if label is not None:
            return label
        if not strict:
            return text_of(value)
        raise ConversionError(
            RejectCode.UNKNOWN_OPTION,
            f"{value!r} is not an option of the picklist and the record carries no label for it",
        )

    return emit


def _text_emitter(info: FieldInfo, display: bool) -> Emitter:
    match info.type:
        case CrmType.PICKLIST if display:
            return _label_emitter(info, strict=True)
        case CrmType.BOOLEAN if display:
            return _label_emitter(info, strict=False)
        case CrmType.BOOLEAN | CrmType.PICKLIST | CrmType.OTHER:
            return lambda value, _record: text_of(value)
        case CrmType.INTEGER | CrmType.BIGINT:
            return lambda value, _record: str(value)
        case CrmType.DECIMAL | CrmType.DOUBLE | CrmType.MONEY:
            return lambda value, _record: number_text(value)
        case CrmType.DATETIME:
            return lambda value, _record: datetime_text(value)
        case CrmType.DATE:
            return lambda value, _record: value.isoformat()
    return _same


def _check_text(text: str, limit: int | None) -> None:
    """Raise unless ``text`` fits the field: no longer than ``limit`` (when there is one), and
    without a NUL character (PostgreSQL cannot store one; refused on every store alike)."""
    if limit is not None and len(text) > limit:
        raise ConversionError(
            RejectCode.VALUE_TOO_LONG,
            f"{len(text)} characters, more than the {limit} the field holds",
        )
    if "\x00" in text:
        raise ConversionError(
            RejectCode.INVALID_VALUE,
            f"the text holds a NUL character (\\u0000) at character {text.index(chr(0)) + 1}, "
            "which no Campaign store takes",
        )


def _checked_text(emit: Emitter, limit: int | None) -> Emitter:
    """``emit``, the text it writes checked by :func:`_check_text`."""
    if emit is _same:  # text as is, the most common field: one call less per value

        def check(text: Any, _record: Record) -> Any:
            _check_text(text, limit)
            return text

        return check

    def emit_checked(value: Any, record: Record) -> Any:
        text = emit(value, record)
        _check_text(text, limit)
        return text

    return emit_checked


def _int_in_range(value: int, _record: Record) -> int:
    if _INT64_MIN <= value <= _INT64_MAX:
        return value
    raise ConversionError(
        RejectCode.VALUE_OUT_OF_RANGE, f"{value} does not fit a 64-bit integer field"
    )


def _float32(value: float, _record: Record) -> float:
    if -_FLOAT32_MAX <= value <= _FLOAT32_MAX:
        return value
    raise ConversionError(
        RejectCode.VALUE_OUT_OF_RANGE, f"{value!r} does not fit a single-precision float field"
    )


def _date_from_datetime(value: datetime, _record: Record) -> date:
    return value.date()  # the value is in UTC: its UTC calendar day


def _midnight_utc(value: date, _record: Record) -> datetime:
    return datetime.combine(value, time(), UTC)


def _same(value: Any, _record: Record) -> Any:
    return value


def _bool_to_int(value: bool, _record: Record) -> int:
    return int(value)


def _int_to_float(value: int, _record: Record) -> float:
    return float(value)


def emitter(info: FieldInfo, target: FieldDefinition, *, display: bool) -> Emitter:
    """How typed values of ``info`` are written to ``target``; ``display``: picklist labels.

    Raises :class:`UnsupportedConversion` for a pair the store's compatibility table refuses and
    for display labels into a number field.
    """
    crm, campaign = info.type, target.type
    if not is_compatible(crm, campaign):
        raise UnsupportedConversion(
            f"{crm.value} values cannot be written to a {campaign.value} field"
        )
    if campaign in _TEXT_TARGETS:
        limit = target.length if campaign is CampaignType.STRING else None
        return _checked_text(_text_emitter(info, display), limit)
    if crm is CrmType.PICKLIST:  # into an integer field
        if display:
            raise UnsupportedConversion(
                "display labels cannot be written to an integer field: use picklist_values "
                "'technical' or a string field"
            )
        if options_are_ints(info) is False:
            raise UnsupportedConversion(
                "the picklist's values are text; they cannot be written to an integer field"
            )
        return _int_in_range
    return _NUMERIC_EMITTERS[(crm, campaign)]


#: The emitter of values written as parsed (text as is, numbers and dates of the same kind).
AS_IS: Emitter = _same

_NUMERIC_EMITTERS: Mapping[tuple[CrmType, CampaignType], Emitter] = {
    (CrmType.BOOLEAN, CampaignType.BOOLEAN): _same,
    (CrmType.BOOLEAN, CampaignType.INTEGER): _bool_to_int,
    (CrmType.INTEGER, CampaignType.INTEGER): _int_in_range,
    (CrmType.BIGINT, CampaignType.INTEGER): _int_in_range,
    (CrmType.INTEGER, CampaignType.DOUBLE): _int_to_float,
    (CrmType.BIGINT, CampaignType.DOUBLE): _int_to_float,
    (CrmType.INTEGER, CampaignType.FLOAT): lambda v, r: _float32(float(v), r),
    **{(crm, CampaignType.DOUBLE): _same for crm in _NUMBERS},
    **{(crm, CampaignType.FLOAT): _float32 for crm in _NUMBERS},
    (CrmType.DATETIME, CampaignType.DATETIME): _same,
    (CrmType.DATETIME, CampaignType.DATE): _date_from_datetime,
    (CrmType.DATE, CampaignType.DATE): _same,
    (CrmType.DATE, CampaignType.DATETIME): _midnight_utc,
}


class Shape(IntEnum):
    """The common case of a mapped field whose value can be checked and written without its
    step (see :meth:`~crmsync.sync.transform.CompiledMapping.row_maker`): a CRM value of that
    shape is written as it is, or as its parse, with nothing to convert. Anything else (an
    empty value, another form, a bad value) goes through the field's step as always."""

    NONE = 0
    #: Text into a text field: a ``str`` no longer than the field's length.
    TEXT = 1
    #: A whole number into an integer field: an ``int`` within 64 bits.
    INT = 2
    #: A boolean into a boolean field: ``True`` or ``False``.
    BOOL = 3
    #: A number into a double field: a finite ``float``.
    FLOAT = 4
    #: A date into a date field: ``YYYY-MM-DD``.
    DATE = 5
    #: A UTC date and time into a date-time field: ``YYYY-MM-DDTHH:MM:SSZ``.
    DATETIME = 6


def value_shape(info: FieldInfo, target: FieldDefinition, *, display: bool) -> tuple[Shape, int]:
    """The :class:`Shape` of the values of ``info`` written to ``target`` that its step would
    only check (``Shape.NONE`` when every value needs the step), and the longest text allowed
    (for ``Shape.TEXT``). Read off the field's own parser and emitter: a value of the shape
    parses to itself, and the emitter writes it as it is (or only checks its range). For a pair
    :func:`emitter` accepts."""
    parse = crm_parser(info)
    if target.type in _TEXT_TARGETS:
        if is_text_parser(parse) and _text_emitter(info, display) is _same:
            limit = target.length if target.type is CampaignType.STRING else None
            return Shape.TEXT, sys.maxsize if limit is None else limit
        return Shape.NONE, 0
    emit = emitter(info, target, display=display)
    if info.type is CrmType.DATETIME and emit is _same:
        return Shape.DATETIME, 0
    return _SHAPES.get((parse, emit), Shape.NONE), 0


#: (parser, emitter) → the shape of the values they take as they are.
_SHAPES: Mapping[tuple[Parser, Emitter], Shape] = {
    (parse_int, _int_in_range): Shape.INT,
    (parse_bool, _same): Shape.BOOL,
    (parse_float, _same): Shape.FLOAT,  # into double fields (single ones check their range)
    (parse_date, _same): Shape.DATE,
}


def campaign_value(target: FieldDefinition, value: bool | int | float | str) -> Any:
    """A non-null value written in the configuration (a replacement's ``to``), as a value of
    ``target``; raises :class:`UnsupportedConversion` when it does not fit the field."""
    try:
        match target.type:
            case CampaignType.BOOLEAN:
                return parse_bool(value)
            case CampaignType.INTEGER:
                if value is True or value is False:
                    raise wrong_type(value, "a whole number")
                return _int_in_range(parse_int(value), _NO_RECORD)
            case CampaignType.DOUBLE:
                return parse_float(value)
            case CampaignType.FLOAT:
                return _float32(parse_float(value), _NO_RECORD)
            case CampaignType.DATE:
                return parse_date(value)
            case CampaignType.DATETIME:
                return datetime_parser(None)(value)
            case CampaignType.STRING | CampaignType.TEXT:
                text = text_of(value)
                _check_text(text, target.length)
                return text
    except ConversionError as exc:
        raise UnsupportedConversion(f"{exc.message} ({target.type.value} field)") from None
    raise AssertionError(target.type)  # pragma: no cover - the match is exhaustive


_NO_RECORD = Record(id="", values={})
