"""Campaign field types: the one vocabulary and its SQL types.

:class:`CampaignType` is the single source of truth; the SQLAlchemy type of a column
(:func:`sql_type`) is derived from it. Which CRM types may be written into which Campaign type
is the mapping's business (:mod:`crmsync.mapping.types`): the store knows nothing of CRMs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["CampaignType", "UtcDateTime", "sql_type"]


class CampaignType(StrEnum):
    """The types a Campaign field may have."""

    INTEGER = "integer"  # 64-bit signed
    BOOLEAN = "boolean"
    FLOAT = "float"  # single precision
    DOUBLE = "double"  # double precision
    DATE = "date"
    DATETIME = "datetime"  # timezone-aware, stored in UTC
    STRING = "string"  # optional maximum length
    TEXT = "text"  # unbounded text (CRM memo fields)


_SAMPLE = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC)
_SQLITE_DATETIME = "%04d-%02d-%02d %02d:%02d:%02d.%06d"


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored in UTC and read back as an aware UTC ``datetime``.

    SQLite has no timestamp type and SQLAlchemy's ``DateTime`` reads naive values there, so the
    conversion is done here once for both databases. Naive datetimes are refused: guessing their
    zone is how sync engines drift by hours.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} has no time zone")
        value = value.astimezone(UTC)
        # SQLite would keep the offset text; store the naive UTC wall clock there.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        general = super().bind_processor(dialect)
        if dialect.name != "sqlite" or general is None:
            return general

        def process(value: Any) -> Any:
            # A UTC value (what the engine writes) becomes SQLite's DATETIME text in one step:
            # the same text SQLAlchemy stores ("YYYY-MM-DD HH:MM:SS.ffffff"), at a sixth of
            # the cost (formatting the fields beats isoformat of an aware value), which shows
            # in loads of millions of rows.
            if type(value) is datetime and value.tzinfo is UTC:
                return _SQLITE_DATETIME % (
                    value.year,
                    value.month,
                    value.day,
                    value.hour,
                    value.minute,
                    value.second,
                    value.microsecond,
                )
            return general(value)

        # Only where SQLAlchemy's processor writes that very text (its dialect-specific type).
        return process if general(_SAMPLE) == process(_SAMPLE) else general

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def sql_type(campaign_type: CampaignType, length: int | None = None) -> TypeEngine[Any]:
    """The SQLAlchemy column type of a Campaign field."""
    match campaign_type:
        case CampaignType.INTEGER:
            return sa.BigInteger()
        case CampaignType.BOOLEAN:
            return sa.Boolean(create_constraint=False)
        case CampaignType.FLOAT:
            return sa.Float(precision=24)
        case CampaignType.DOUBLE:
            return sa.Double()
        case CampaignType.DATE:
            return sa.Date()
        case CampaignType.DATETIME:
            return UtcDateTime()
        case CampaignType.STRING:
            return sa.String(length)
        case CampaignType.TEXT:
            return sa.Text()
    raise AssertionError(campaign_type)  # pragma: no cover - the match is exhaustive
