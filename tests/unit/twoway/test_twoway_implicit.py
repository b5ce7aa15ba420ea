"""The change log's old values, as SQLite and PostgreSQL render a column into JSON, read back as
Campaign values of each type (the base of a record without a base row)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crmsync.store.types import CampaignType as T
from crmsync.twoway.implicit import log_value

MOMENT = datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "logged", "value"),
    [
        (T.STRING, "Ghent", "Ghent"),
        (T.TEXT, "", ""),
        (T.INTEGER, 7, 7),
        (T.DOUBLE, 1, 1.0),
        (T.FLOAT, 0.5, 0.5),
        (T.BOOLEAN, 1, True),  # SQLite
        (T.BOOLEAN, 0, False),
        (T.BOOLEAN, True, True),  # PostgreSQL
        (T.DATE, "2025-01-02", date(2025, 1, 2)),
        (T.DATETIME, "2025-01-02 03:04:05.000006", MOMENT),  # SQLite: the UTC wall clock
        (T.DATETIME, "2025-01-02T04:04:05.000006+01:00", MOMENT),  # PostgreSQL
        (T.STRING, None, None),
        (T.DATETIME, None, None),
    ],
)
def test_a_logged_value_reads_back_as_its_campaign_value(
    kind: T, logged: object, value: object
) -> None:
    assert log_value(kind, logged) == value


@pytest.mark.parametrize(
    ("kind", "logged"),
    [
        (T.STRING, 5),
        (T.INTEGER, "5"),
        (T.INTEGER, True),
        (T.BOOLEAN, 2),
        (T.DOUBLE, [1]),
        (T.DATE, "yesterday"),
        (T.DATETIME, "noon"),
    ],
)
def test_a_value_of_another_type_is_refused(kind: T, logged: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        log_value(kind, logged)
