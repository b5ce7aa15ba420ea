"""Field values between the wire and the store: checking what clients send, rendering rows.

Incoming values are checked as Salesforce checks them: JSON types first (a wrong type fails the
whole request with ``JSON_PARSER_ERROR``, since the real service cannot even deserialize it),
then per-record rules that become ``{"statusCode","message","fields"}`` entries: unknown fields,
read-only fields, string lengths, restricted picklists, e-mail syntax, malformed references.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from crmsync.emulators.salesforce.errors import ApiError, RecordError
from crmsync.emulators.salesforce.ids import normalize_id
from crmsync.emulators.salesforce.schema import TEXT_TYPES, Field, FieldType, Schema, SObject
from crmsync.emulators.salesforce.soql_sql import parse_datetime
from crmsync.emulators.salesforce.store import format_datetime

__all__ = ["check_values", "json_parser_error", "record_url", "render_row"]

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def json_parser_error(found: Field, value: Any) -> ApiError:
    """The top-level answer to a value of the wrong JSON type."""
    kinds = {
        FieldType.BOOLEAN: "boolean",
        FieldType.DATE: "date",
        FieldType.DATETIME: "datetime",
        FieldType.DOUBLE: "double",
        FieldType.CURRENCY: "double",
        FieldType.INT: "int",
    }
    if isinstance(value, bool):
        json_kind = "VALUE_TRUE" if value else "VALUE_FALSE"
    elif isinstance(value, str):
        json_kind = "VALUE_STRING"
    elif isinstance(value, int):
        json_kind = "VALUE_NUMBER_INT"
    elif isinstance(value, float):
        json_kind = "VALUE_NUMBER_FLOAT"
    elif isinstance(value, list):
        json_kind = "START_ARRAY"
    else:
        json_kind = "START_OBJECT"
    shown = str(value)[:100]
    return ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kinds.get(found.type, 'string')} from {json_kind} value "
        f"{shown} or request may be missing a required field",
    )


def record_url(version: str, obj: SObject, record_id: str) -> str:
    return f"/services/data/v{version}/sobjects/{obj.name}/{record_id}"


def _wire_type_ok(found: Field, value: Any) -> bool:
    if value is None:
        return True
    kind = found.type
    if kind == FieldType.BOOLEAN:
        return isinstance(value, bool)
    if kind in (FieldType.DOUBLE, FieldType.CURRENCY, FieldType.INT):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return isinstance(value, str) and _number(value) is not None
        return math.isfinite(value)
    if kind == FieldType.DATE:
        return isinstance(value, str) and _date(value) is not None
    if kind == FieldType.DATETIME:
        return isinstance(value, str) and parse_datetime(value) is not None
    return isinstance(value, str) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    )


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _date(text: str) -> str | None:
    try:
        return date.fromisoformat(text[:10]).isoformat() if len(text) in (10, 24, 28, 29) else None
    except ValueError:
        return None


def _stored(found: Field, value: Any) -> Any:
    """A value that passed :func:`_wire_type_ok`, in stored form."""
    kind = found.type
    if value is None:
        return (
            0 if kind == FieldType.BOOLEAN else None
        )  # Salesforce stores a null checkbox as false
    if kind == FieldType.BOOLEAN:
        return 1 if value else 0
    if kind in (FieldType.DOUBLE, FieldType.CURRENCY, FieldType.INT):
        number = _number(value) if isinstance(value, str) else float(value)
        assert number is not None
        if kind == FieldType.INT:
            return int(number)
        return number
    if kind == FieldType.DATE:
        return _date(value)
    if kind == FieldType.DATETIME:
        when = parse_datetime(value)
        assert when is not None
        return format_datetime(when)
    return value if isinstance(value, str) else str(value)


def check_values(
    obj: SObject, schema: Schema, body: Mapping[str, Any], *, creating: bool
) -> dict[str, Any]:
    """Stored values of the fields in ``body`` (``attributes`` and ``Id`` left out by the caller).

    Raises :class:`~crmsync.emulators.salesforce.errors.ApiError` for a wrong JSON type and
    :class:`~crmsync.emulators.salesforce.errors.RecordError` for a value Salesforce refuses.
    """
    values: dict[str, Any] = {}
    fields: dict[str, Field] = {}
    for name, value in body.items():
        found = obj.field(name)
        if found is None:
            raise RecordError(
                "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}", [name]
            )
        if not _wire_type_ok(found, value):
            raise json_parser_error(found, value)
        fields[found.name] = found
        values[found.name] = value
    read_only = [
        f.name for f in fields.values() if not (f.createable if creating else f.updateable)
    ]
    if read_only:
        raise RecordError(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(read_only)}. Please check the security "
            "settings of this field and verify that it is read/write for your profile or "
            "permission set.",
            read_only,
        )
    stored: dict[str, Any] = {}
    for name, value in values.items():
        found = fields[name]
        result = _stored(found, value)
        _check_value(obj, schema, found, result)
        stored[name] = result
    return stored


def _check_value(obj: SObject, schema: Schema, found: Field, value: Any) -> None:
    label = found.label or found.name
    if value is None:
        if found.required:
            raise RecordError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{found.name}]",
                [found.name],
            )
        return
    if found.type in TEXT_TYPES and found.length and len(value) > found.length:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise RecordError(
            "STRING_TOO_LONG",
            f"{label}: data value too large: {shown} (max length={found.length})",
            [found.name],
        )
    if (
        found.type == FieldType.PICKLIST
        and found.restricted_picklist
        and value not in found.picklist_values
    ):
        raise RecordError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{label}: bad value for restricted picklist field: {value}",
            [found.name],
        )
    if found.type == FieldType.EMAIL and not _EMAIL_RE.match(value):
        raise RecordError(
            "INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {value}", [found.name]
        )
    if found.type == FieldType.REFERENCE:
        normalized = normalize_id(value)
        if normalized is None:
            raise RecordError(
                "MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [found.name]
            )
        target = schema.by_prefix(normalized[:3])
        target_name = target.name.lower() if target is not None else None
        if normalized[:3] == "005":
            target_name = "user"
        if target_name not in {name.lower() for name in found.reference_to}:
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"{label}: id value of incorrect type: {value}",
                [found.name],
            )


def render_row(obj: SObject, row: Mapping[str, Any], version: str) -> dict[str, Any]:
    """A full stored row as the REST API returns a record (``attributes`` first)."""
    record: dict[str, Any] = {
        "attributes": {"type": obj.name, "url": record_url(version, obj, row["Id"])}
    }
    for found in obj.fields:
        value = row[found.name]
        if found.type == FieldType.BOOLEAN:
            value = bool(value)
        record[found.name] = value
    return record
