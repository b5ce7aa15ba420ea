"""The option date format ``yyyy/MM/dd hh:mm:ss`` and option names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crmsync.jobs.options import format_option_date, last_import_option, parse_option_date


def test_round_trip_in_utc() -> None:
    moment = datetime(2024, 3, 31, 3, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    assert format_option_date(moment) == "2024/03/31 01:30:05"
    assert parse_option_date("2024/03/31 01:30:05") == moment.astimezone(UTC)


@pytest.mark.parametrize(
    "text", ["2024-03-31 01:30:05", "2024/03/31", "2024/02/30 00:00:00", "2024/03/31 25:00:00", ""]
)
def test_bad_dates_are_refused_with_the_format(text: str) -> None:
    with pytest.raises(ValueError, match=r"yyyy/MM/dd hh:mm:ss|not a valid date"):
        parse_option_date(text)


def test_naive_dates_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="time zone"):
        format_option_date(datetime(2024, 1, 1))


def test_option_names() -> None:
    assert last_import_option("contacts", "read") == "LASTIMPORT_contacts_read"
    assert last_import_option("my-job", "step 1") == "LASTIMPORT_my_job_step_1"
