"""Building SOQL safely: identifiers checked against metadata, literals quoted per SOQL's rules.

Nothing a user or a record supplies reaches a query unchecked: object and field names must be
known to the table's metadata (and look like Salesforce names), and values become literals through
:func:`literal`, which quotes strings with SOQL's backslash escapes and writes date/times as the
unquoted UTC literals SOQL expects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from crmsync.errors import ConfigurationError

__all__ = [
    "check_name",
    "format_datetime",
    "literal",
    "parse_datetime",
    "quote_string",
    "select",
]

# Object and field names: letters, digits and single underscores, starting with a letter
# (custom names end in ``__c``, namespaced ones look like ``ns__Name__c``).
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
# Salesforce's own format: 2024-01-02T03:04:05.000+0000 (also seen with Z or +00:00).
_SF_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})$"
)


def check_name(name: str, what: str, known: Collection[str] | None = None) -> str:
    """``name`` if it is a Salesforce name (and one of ``known`` when given)."""
    if not isinstance(name, str) or not _NAME.match(name) or "___" in name:
        raise ConfigurationError(f"{what} {name!r} is not a valid Salesforce name")
    if known is not None and name not in known:
        raise ConfigurationError(f"{what} {name!r} does not exist")
    return name


def quote_string(text: str) -> str:
    """A SOQL string literal: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        escaped = _ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "'" + "".join(out) + "'"


def format_datetime(value: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss.sssZ`` in UTC: SOQL's datetime literal and crmsync's record version.

    Aware datetimes only: a naive one has no defined instant.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"datetime {value.isoformat()} has no time zone")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> datetime:
    """A Salesforce timestamp (``…+0000``, ``…Z`` or ``…+00:00``) as an aware UTC datetime."""
    match = _SF_DATETIME.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a Salesforce date/time")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    value = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        int((fraction or "0").ljust(6, "0")),
        tzinfo=UTC,
    )
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        value -= timedelta(minutes=offset)
    return value


def literal(value: Any) -> str:
    """A SOQL literal for a Python value: null, booleans, numbers, dates, datetimes, strings."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value!r} has no SOQL literal")
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError(f"{value!r} has no SOQL literal")
        return format(value, "f") if isinstance(value, Decimal) else repr(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return quote_string(value)
    raise ValueError(f"a {type(value).__name__} has no SOQL literal")


def select(
    table: str,
    fields: Sequence[str],
    *,
    known: Collection[str],
    where: str | None = None,
    order_by: Iterable[str] = (),
    limit: int | None = None,
) -> str:
    """``SELECT … FROM … [WHERE …] [ORDER BY …] [LIMIT n]`` with every name checked.

    ``where`` is SOQL already built with :func:`literal` (or given by the user in SOQL, who
    is then the author of that query).
    """
    check_name(table, "object")
    if not fields:
        raise ConfigurationError(f"no fields to read from {table}")
    names = [check_name(f, f"field of {table}", known) for f in fields]
    order = [check_name(f, f"field of {table}", known) for f in order_by]
    # Every name was checked above; values only enter through literal().
    soql = f"SELECT {','.join(names)} FROM {table}"  # noqa: S608
    if where:
        soql += f" WHERE {where}"
    if order:
        soql += " ORDER BY " + ",".join(order)
    if limit is not None:
        soql += f" LIMIT {int(limit)}"
    return soql
