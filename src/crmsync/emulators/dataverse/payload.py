"""Validation of write bodies: JSON properties → stored column values, as Dataverse checks them.

Unknown properties, wrong JSON types, out-of-range choices, over-long strings and bad bindings are
refused with the codes and messages of the real service. Read-only attributes (``createdon``,
``versionnumber``, ``fullname``…) are ignored, as Dataverse ignores them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

from crmsync.emulators.dataverse.errors import (
    CODE_LENGTH,
    CODE_OPTION,
    CODE_PAYLOAD,
    WebApiError,
    bad_request,
)
from crmsync.emulators.dataverse.filters import edm_type
from crmsync.emulators.dataverse.paths import GUID_RE, Segment, parse_segment, split_path
from crmsync.emulators.dataverse.schema import (
    LOOKUP_TYPES,
    OPTION_TYPES,
    TEXT_TYPES,
    Attribute,
    AttributeType,
    Table,
)
from crmsync.emulators.dataverse.store import format_datetime, lookup_type_column

__all__ = ["Bind", "Payload", "parse_body", "validate_payload"]

_HELP = (
    "Error identified in Payload provided by the user for Entity :'{set}', For more information "
    "on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293 "
    "----> InnerException : Microsoft.OData.ODataException: {detail}"
)


@dataclass(slots=True)
class Bind:
    """A lookup bound with ``<navigation>@odata.bind``: resolved to a record by the caller."""

    attribute: Attribute
    target: Table
    segment: Segment


@dataclass(slots=True)
class Payload:
    """The column values of a write, and the lookups still to resolve."""

    values: dict[str, Any] = field(default_factory=dict)
    binds: list[Bind] = field(default_factory=list)


def payload_error(table: Table, detail: str) -> WebApiError:
    return WebApiError(400, CODE_PAYLOAD, _HELP.format(set=table.entity_set, detail=detail))


def parse_body(table: Table, body: bytes) -> dict[str, Any]:
    """The JSON object of a write body; anything else → 400."""
    try:
        value = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise payload_error(table, f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise payload_error(table, "The request body must be a JSON object.")
    return value


def _type_error(table: Table, attribute: Attribute, value: Any) -> WebApiError:
    shown = orjson.dumps(value).decode()[:200]
    return payload_error(
        table,
        f"Cannot convert the literal '{shown}' to the expected type '{edm_type(attribute)}'"
        f" of property '{attribute.logical_name}'.",
    )


def _convert(table: Table, attribute: Attribute, value: Any) -> Any:
    """``value`` (JSON) as stored for ``attribute``; wrong type or value → 400."""
    if value is None:
        return None
    kind = attribute.type
    if kind in TEXT_TYPES:
        if not isinstance(value, str):
            raise _type_error(table, attribute, value)
        if attribute.max_length is not None and len(value) > attribute.max_length:
            raise WebApiError(
                400,
                CODE_LENGTH,
                f"A validation error occurred. The length of the '{attribute.logical_name}' "
                f"attribute of the '{table.logical_name}' entity exceeded the maximum allowed "
                f"length of '{attribute.max_length}'.",
            )
        return value
    if kind == AttributeType.BOOLEAN:
        if not isinstance(value, bool):
            raise _type_error(table, attribute, value)
        return int(value)
    if kind in OPTION_TYPES or kind in (AttributeType.INTEGER, AttributeType.BIGINT):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(table, attribute, value)
        if kind in OPTION_TYPES and attribute.option_label(value) is None:
            accepted = ",".join(str(option.value) for option in attribute.options)
            raise WebApiError(
                400,
                CODE_OPTION,
                f"A validation error occurred. The value {value} of '{attribute.logical_name}' "
                f"on record of type '{table.logical_name}' is outside the valid range. "
                f"Accepted Values: {accepted}",
            )
        _check_range(table, attribute, value)
        return value
    if kind in (AttributeType.MONEY, AttributeType.DECIMAL, AttributeType.DOUBLE):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(table, attribute, value)
        _check_range(table, attribute, value)
        return float(value)
    if kind == AttributeType.DATETIME:
        if not isinstance(value, str):
            raise _type_error(table, attribute, value)
        return _convert_datetime(table, attribute, value)
    if kind == AttributeType.UNIQUEIDENTIFIER:
        if not isinstance(value, str) or not GUID_RE.match(value):
            raise _type_error(table, attribute, value)
        return value.lower()
    raise _type_error(table, attribute, value)


def _check_range(table: Table, attribute: Attribute, value: float) -> None:
    low, high = attribute.min_value, attribute.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        raise bad_request(
            f"A validation error occurred. The value {value} of '{attribute.logical_name}' on "
            f"record of type '{table.logical_name}' is outside the valid range({low} to {high})."
        )


def _convert_datetime(table: Table, attribute: Attribute, text: str) -> str:
    try:
        if attribute.datetime_behavior == "DateOnly":
            if len(text) == 10:
                return date.fromisoformat(text).isoformat()
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _type_error(table, attribute, text) from None
    if attribute.datetime_behavior == "TimeZoneIndependent":
        # Stored as the wall-clock time given, without conversion.
        return parsed.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%SZ")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return format_datetime(parsed)


def _bind_segment(text: Any, content_ids: Mapping[str, str]) -> tuple[str, Segment]:
    """(entity set, key segment) of a bind value such as ``/accounts(<guid>)`` or ``$1``."""
    if not isinstance(text, str):
        raise ValueError("a bind value must be a string")
    if text.startswith("$") and text[1:] in content_ids:
        text = content_ids[text[1:]]
    marker = "/api/data/v9.2/"
    if marker in text:
        text = text.split(marker, 1)[1]
    segments = split_path(text)
    if len(segments) != 1:
        raise ValueError(f"'{text}' does not name one record")
    segment = parse_segment(segments[0])
    if segment.key is None:
        raise ValueError(f"'{text}' does not name one record")
    return segment.name, segment


def validate_payload(
    tables: Callable[[str], Table | None],
    table: Table,
    body: Mapping[str, Any],
    *,
    creating: bool,
    content_ids: Mapping[str, str],
) -> Payload:
    """Check ``body`` against ``table``; ``tables`` finds a table by entity set name."""
    payload = Payload()
    for name, value in body.items():
        if name.endswith("@odata.bind"):
            navigation = name[: -len("@odata.bind")]
            found = table.navigation.get(navigation)
            if found is None:
                raise payload_error(
                    table,
                    f"An undeclared property '{navigation}' which only has property annotations "
                    "in the payload but no property value was found in the payload. In OData, "
                    "only declared navigation properties and declared named streams can be "
                    "represented as properties without values.",
                )
            lookup, target_name = found
            if value is None:
                payload.values[lookup.logical_name] = None
                payload.values[lookup_type_column(lookup.logical_name)] = None
                continue
            try:
                entity_set, segment = _bind_segment(value, content_ids)
            except (ValueError, WebApiError):
                raise bad_request(
                    f"The value of '{name}' is not a valid entity reference: {value!r}."
                ) from None
            target = tables(entity_set)
            if target is None or target.logical_name != target_name:
                raise bad_request(
                    f"The entity reference '{value}' does not match the navigation property "
                    f"'{navigation}', which refers to '{target_name}'."
                )
            payload.binds.append(Bind(lookup, target, segment))
            continue
        if name.startswith("@") or "@" in name:
            continue  # instance annotations such as @odata.type
        attribute = table.by_name.get(name)
        if attribute is None:
            if table.by_wire_name.get(name) is not None:
                raise payload_error(
                    table,
                    "CRM do not support direct update of Entity Reference properties, Use "
                    "Navigation properties instead.",
                )
            raise payload_error(
                table,
                f"The property '{name}' does not exist on type '{table.type_name}'. Make sure to "
                "only use property names that are defined by the type or mark the type as open "
                "type.",
            )
        if attribute.type in LOOKUP_TYPES:
            raise payload_error(
                table,
                f"The property '{name}' is a lookup: bind it with "
                f"'{attribute.navigation_property(attribute.targets[0])}@odata.bind'.",
            )
        writable = attribute.valid_for_create if creating else attribute.valid_for_update
        if not writable or name in table.computed:
            continue  # read-only attributes are ignored, as Dataverse does
        payload.values[name] = _convert(table, attribute, value)
    return payload
