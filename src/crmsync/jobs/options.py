"""Named options: the ``LASTIMPORT_…`` dates of incremental imports, in their text format.

An option is a named text value kept in the Campaign store (table ``crmsync_options``) so that
users can read and edit it (``crmsync option get|set NAME``). Dates of the automatic index are
written ``yyyy/MM/dd hh:mm:ss`` (24-hour clock, UTC), the format users know from the source
system; :func:`parse_option_date` refuses anything else with a message that shows the format.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["OPTION_DATE_FORMAT", "format_option_date", "last_import_option", "parse_option_date"]

OPTION_DATE_FORMAT = "yyyy/MM/dd hh:mm:ss"
_PATTERN = re.compile(r"^(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})$")
_NAME_PART = re.compile(r"[^A-Za-z0-9_]")


def format_option_date(value: datetime) -> str:
    """``value`` (aware) in the option format, in UTC, to the second."""
    if value.tzinfo is None:
        raise ValueError("an option date needs a time zone")
    return value.astimezone(UTC).strftime("%Y/%m/%d %H:%M:%S")


def parse_option_date(text: str) -> datetime:
    """An option date (UTC) back as an aware datetime."""
    match = _PATTERN.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a date in the format {OPTION_DATE_FORMAT}")
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date: {exc}") from None


def last_import_option(instance: str, step: str) -> str:
    """``LASTIMPORT_<instance>_<step>``, with characters outside ``[A-Za-z0-9_]`` as ``_``."""
    return f"LASTIMPORT_{_NAME_PART.sub('_', instance)}_{_NAME_PART.sub('_', step)}"
