"""The four conversions of CRM values, in both directions.

- ``default``: date-times are instants; on import they are shown in the job's time zone
  (``2024-03-31T03:30:00+02:00``), on export sent in UTC; a wall-clock value without offset is
  read in the job's time zone (daylight saving included).
- ``date_only``: the date part only (in the job's time zone for date-times).
- ``no_time_offset``: no time-zone conversion: the wall-clock digits are kept as they are.
- ``raw``: the value as text, untouched.

Fields that are not dates pass through unchanged except with ``raw``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from crmsync.connectors.base import CrmType, FieldInfo
from crmsync.connectors.salesforce.soql import parse_datetime

__all__ = ["export_value", "import_value"]


def _raw(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def import_value(field: FieldInfo, value: Any, conversion: str, tz: ZoneInfo) -> Any:
    """A CRM value (as the CRM sent it) converted for the step's output."""
    if conversion == "raw":
        return _raw(value)
    if value is None or field.type not in (CrmType.DATETIME, CrmType.DATE):
        return value
    text = str(value)
    if field.type == CrmType.DATE or field.date_behavior == "DateOnly" or len(text) == 10:
        return text[:10]
    moment = parse_datetime(text)
    if conversion == "no_time_offset":
        return moment.replace(tzinfo=None).isoformat()
    local = moment.astimezone(tz)
    if conversion == "date_only":
        return local.date().isoformat()
    return local.isoformat()


def _as_datetime(value: Any, tz: tzinfo) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        # fold=0: an ambiguous wall-clock time (the hour repeated when clocks go back) is the
        # first of the two; a time skipped when clocks go forward maps forward by the gap.
        moment = moment.replace(tzinfo=tz)
    return moment


def export_value(field: FieldInfo, value: Any, conversion: str, tz: ZoneInfo) -> Any:
    """A Campaign value converted for the CRM field ``field``."""
    if conversion == "raw":
        return _raw(value)
    if value is None or field.type not in (CrmType.DATETIME, CrmType.DATE):
        return value
    if field.type == CrmType.DATE or field.date_behavior == "DateOnly":
        if isinstance(value, datetime):
            return value.astimezone(tz).date().isoformat() if value.tzinfo else value.date()
        return str(value)[:10]
    if conversion == "no_time_offset":
        wall = _as_datetime(value, UTC).replace(tzinfo=None)
        return wall.strftime("%Y-%m-%dT%H:%M:%SZ")
    moment = _as_datetime(value, tz)
    if conversion == "date_only":
        local = moment.astimezone(tz).date()
        return datetime(local.year, local.month, local.day, tzinfo=UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
