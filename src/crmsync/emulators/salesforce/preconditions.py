"""``If-Unmodified-Since`` on sObject Rows updates, as the REST API checks it.

The header is an HTTP date (whole seconds). The record counts as modified since that date when its
``LastModifiedDate``, cut to the second, is later: a write that was read at that version goes
through, one made after another change is refused with 412 ``PRECONDITION_FAILED``. An unreadable
date answers 400, as the real service does for invalid precondition values on PATCH.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmsync.emulators.salesforce.errors import ApiError

__all__ = ["check_unmodified_since"]


def _header_date(value: str) -> datetime:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        when = None
    if when is None:
        raise ApiError(
            400,
            "INVALID_HEADER_VALUE",
            f"If-Unmodified-Since: {value[:64]!r} is not an HTTP date (RFC 1123)",
        )
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _stored_date(value: object) -> datetime | None:
    """A stored ``LastModifiedDate`` (``YYYY-MM-DDThh:mm:ss.fff+0000``) cut to the second."""
    if not isinstance(value, str) or len(value) < 19:
        return None
    try:
        return datetime.fromisoformat(value[:19]).replace(tzinfo=UTC)
    except ValueError:
        return None


def check_unmodified_since(
    conn: Connection, table: sa.Table, record_id: str, header: str | None
) -> None:
    """Refuse (412) the update of ``record_id`` if it was modified after ``header``'s date."""
    if header is None:
        return
    since = _header_date(header)
    stored = conn.execute(
        sa.select(table.c.LastModifiedDate).where(table.c.Id == record_id)
    ).scalar_one_or_none()
    modified = _stored_date(stored)
    if modified is not None and modified > since:
        raise ApiError(
            412,
            "PRECONDITION_FAILED",
            f"The requested resource has been modified since {header.strip()}",
        )
