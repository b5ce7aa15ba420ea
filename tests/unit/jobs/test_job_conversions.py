"""Conversions across time zones and a daylight-saving change (Europe/Paris, 31 March 2024:
02:00 → 03:00; 27 October 2024: 03:00 → 02:00)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from crmsync.connectors.base import CrmType, FieldInfo
from crmsync.jobs.conversions import export_value, import_value

PARIS = ZoneInfo("Europe/Paris")
TOKYO = ZoneInfo("Asia/Tokyo")
STAMP = FieldInfo("seen", CrmType.DATETIME, date_behavior="UserLocal")
DAY = FieldInfo("born", CrmType.DATETIME, date_behavior="DateOnly")
SF_DAY = FieldInfo("Birthdate", CrmType.DATE)
TEXT = FieldInfo("name", CrmType.STRING)


@pytest.mark.parametrize(
    ("value", "conversion", "tz", "expected"),
    [
        ("2024-03-31T00:30:00Z", "default", PARIS, "2024-03-31T01:30:00+01:00"),
        ("2024-03-31T01:30:00Z", "default", PARIS, "2024-03-31T03:30:00+02:00"),  # after DST
        ("2024-10-27T00:30:00Z", "default", PARIS, "2024-10-27T02:30:00+02:00"),
        ("2024-10-27T01:30:00Z", "default", PARIS, "2024-10-27T02:30:00+01:00"),  # hour repeated
        ("2024-03-30T23:30:00.000+0000", "default", PARIS, "2024-03-31T00:30:00+01:00"),
        ("2024-03-30T23:30:00Z", "date_only", PARIS, "2024-03-31"),
        ("2024-03-30T23:30:00Z", "date_only", UTC, "2024-03-30"),
        ("2024-03-30T16:00:00Z", "date_only", TOKYO, "2024-03-31"),
        ("2024-03-31T01:30:00Z", "no_time_offset", PARIS, "2024-03-31T01:30:00"),
        ("2024-03-31T01:30:00.000+0000", "raw", PARIS, "2024-03-31T01:30:00.000+0000"),
    ],
)
def test_import_datetimes(value: str, conversion: str, tz: ZoneInfo, expected: str) -> None:
    assert import_value(STAMP, value, conversion, tz) == expected


def test_import_dates_and_others() -> None:
    assert import_value(DAY, "1990-05-01", "default", TOKYO) == "1990-05-01"
    assert import_value(SF_DAY, "1990-05-01", "date_only", PARIS) == "1990-05-01"
    assert import_value(TEXT, "x", "default", PARIS) == "x"
    assert import_value(TEXT, True, "raw", PARIS) == "true"
    assert import_value(TEXT, 12.5, "raw", PARIS) == "12.5"
    assert import_value(STAMP, None, "default", PARIS) is None


@pytest.mark.parametrize(
    ("value", "conversion", "expected"),
    [
        (datetime(2024, 3, 31, 1, 30), "default", "2024-03-31T00:30:00Z"),  # CET
        (datetime(2024, 3, 31, 3, 30), "default", "2024-03-31T01:30:00Z"),  # CEST
        (datetime(2024, 10, 27, 2, 30), "default", "2024-10-27T00:30:00Z"),  # first 02:30
        (datetime(2024, 10, 27, 2, 30, fold=1), "default", "2024-10-27T01:30:00Z"),
        ("2024-03-31T12:00:00+09:00", "default", "2024-03-31T03:00:00Z"),
        (datetime(2024, 3, 31, 1, 30, tzinfo=UTC), "no_time_offset", "2024-03-31T01:30:00Z"),
        (datetime(2024, 3, 31, 1, 30), "no_time_offset", "2024-03-31T01:30:00Z"),
        (datetime(2024, 3, 30, 23, 30, tzinfo=UTC), "date_only", "2024-03-31T00:00:00Z"),
        (date(2024, 3, 31), "default", "2024-03-30T23:00:00Z"),
        (datetime(2024, 3, 31, 1, 30), "raw", "2024-03-31 01:30:00"),
    ],
)
def test_export_datetimes(value: object, conversion: str, expected: str) -> None:
    assert export_value(STAMP, value, conversion, PARIS) == expected


def test_export_dates() -> None:
    assert export_value(SF_DAY, date(1990, 5, 1), "default", PARIS) == "1990-05-01"
    assert export_value(DAY, datetime(2024, 3, 30, 23, 30, tzinfo=UTC), "default", PARIS) == (
        "2024-03-31"
    )
    assert export_value(TEXT, 3, "default", PARIS) == 3
