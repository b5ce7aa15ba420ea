from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from crmsync.store.types import CampaignType, UtcDateTime, sql_type


def test_sql_types() -> None:
    assert isinstance(sql_type(CampaignType.INTEGER), sa.BigInteger)
    string = sql_type(CampaignType.STRING, 40)
    assert isinstance(string, sa.String)
    assert string.length == 40
    assert isinstance(sql_type(CampaignType.DATETIME), UtcDateTime)
    assert isinstance(sql_type(CampaignType.TEXT), sa.Text)


@pytest.fixture
def stamps() -> tuple[sa.Engine, sa.Table]:
    engine = sa.create_engine("sqlite://")
    metadata = sa.MetaData()
    table = sa.Table("t", metadata, sa.Column("at", UtcDateTime()), sa.Column("d", sa.Date()))
    metadata.create_all(engine)
    return engine, table


def test_datetimes_are_stored_in_utc_and_read_back_aware(
    stamps: tuple[sa.Engine, sa.Table],
) -> None:
    engine, table = stamps
    stockholm = datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2)))
    with engine.begin() as conn:
        conn.execute(sa.insert(table), [{"at": stockholm, "d": date(2026, 3, 29)}])
        raw = conn.exec_driver_sql("SELECT at FROM t").scalar_one()
        read = conn.execute(sa.select(table.c.at)).scalar_one()
    assert raw.startswith("2026-03-29 01:30:00")
    assert read == stockholm
    assert read.tzinfo is UTC


def test_naive_datetimes_are_refused(stamps: tuple[sa.Engine, sa.Table]) -> None:
    engine, table = stamps
    with engine.begin() as conn, pytest.raises(sa.exc.StatementError, match="naive datetime"):
        conn.execute(sa.insert(table), [{"at": datetime(2026, 1, 1, 12, 0)}])


@pytest.mark.parametrize(
    "stamp",
    [
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2026, 3, 29, 3, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        None,
    ],
)
def test_sqlite_text_of_utc_values_is_sqlalchemys(stamp: datetime | None) -> None:
    dialect = sqlite.dialect()
    fast = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    general = sa.DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert fast is not None
    assert general is not None
    expected = None if stamp is None else general(stamp.astimezone(UTC).replace(tzinfo=None))
    assert fast(stamp) == expected
