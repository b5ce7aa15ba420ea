"""Typing filter values against CRM field metadata, shared by both query-language translators.

A condition's value (once variables and relative dates are evaluated) is checked against the
field's type so that each translator only writes literals of the right kind; a mismatch is a
:class:`~crmsync.errors.ConfigurationError` naming the condition.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

from crmsync.connectors.base import CrmType, FieldInfo, TableInfo
from crmsync.errors import ConfigurationError

__all__ = ["field_of", "typed_value"]

NUMERIC = frozenset(
    {CrmType.INTEGER, CrmType.BIGINT, CrmType.DECIMAL, CrmType.DOUBLE, CrmType.MONEY}
)
TEXT = frozenset({CrmType.STRING, CrmType.MEMO})
IDS = frozenset({CrmType.UNIQUEIDENTIFIER, CrmType.LOOKUP})
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def field_of(info: TableInfo, name: str, where: str) -> FieldInfo:
    """The field ``name`` of ``info``, or an error naming ``where`` it is used."""
    found = info.fields.get(name)
    if found is None:
        lowered = {key.lower(): key for key in info.fields}
        hint = lowered.get(name.lower())
        extra = f" (did you mean '{hint}'?)" if hint else ""
        raise ConfigurationError(
            f"{where}: {info.name} has no field '{name}'{extra}", table=info.name
        )
    return found


def typed_value(field: FieldInfo, value: Any, where: str, *, guid_ids: bool) -> Any:
    """``value`` as the Python type the field's literals are written from."""
    kind = field.type

    def bad(expected: str) -> ConfigurationError:
        return ConfigurationError(
            f"{where}: '{field.name}' is a {kind.value} field: expected {expected}, got {value!r}"
        )

    if kind == CrmType.BOOLEAN:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind in NUMERIC or (kind == CrmType.PICKLIST and isinstance(value, int | float)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        return value
    if kind == CrmType.DATETIME:
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        raise bad("a date or date-time (2024-05-01 or 2024-05-01T10:00:00Z)")
    if kind == CrmType.DATE:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        raise bad("a date (2024-05-01)")
    if kind in IDS:
        text = str(value)
        if guid_ids:
            try:
                return uuid.UUID(text)
            except ValueError:
                raise bad("a GUID") from None
        if not _SF_ID.match(text):
            raise bad("a record id")
        return text
    if isinstance(value, bool | int | float | str):
        return value if kind == CrmType.PICKLIST else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise bad("a text")
