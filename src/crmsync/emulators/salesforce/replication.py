"""``sobjects/{Object}/updated/`` and ``/deleted/``: the replication windows.

Both take ``start`` and ``end`` (ISO 8601 with an offset). As on the real service the seconds are
truncated (the window is whole minutes), an ``end`` in the future is clipped to now, ``start``
must precede ``end`` by more than a minute and may not lie before what the service still keeps
(30 days of updates, 15 days of deletions, both configurable); otherwise the answer is
``INVALID_REPLICATION_DATE``. More ids than the limit (600,000) give ``EXCEEDED_ID_LIMIT``.
``latestDateCovered`` is the (truncated, clipped) end: the start of the next call.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.salesforce.context import ApiContext, endpoint, json_response
from crmsync.emulators.salesforce.errors import ApiError
from crmsync.emulators.salesforce.schema import SObject
from crmsync.emulators.salesforce.soql_sql import parse_datetime
from crmsync.emulators.salesforce.store import DELETED_DATE, format_datetime

__all__ = ["ReplicationWindow", "replication_routes", "window"]


def _minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


class ReplicationWindow:
    """A checked ``[start, end)`` window, in whole minutes."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.end = end


def _parse(request: Request, name: str) -> datetime:
    text = request.query_params.get(name)
    if not text:
        raise ApiError(400, "MISSING_ARGUMENT", f"{name} parameter is required")
    when = parse_datetime(text.strip().replace(" ", "+"))
    if when is None:
        raise ApiError(
            400,
            "INVALID_REPLICATION_DATE",
            f"{name}: '{text[:64]}' is not a valid date-time, e.g. 2024-01-31T10:00:00+00:00",
        )
    return when


def window(start: datetime, end: datetime, now: datetime, earliest: datetime) -> ReplicationWindow:
    """Check and normalize a window (see the module docstring); raises :class:`ApiError`."""
    end = min(end, now)
    if (end - start).total_seconds() <= 60:
        raise ApiError(
            400,
            "INVALID_REPLICATION_DATE",
            "startDate must chronologically precede endDate by more than one minute",
        )
    start, end = _minute(start), _minute(end)
    if start < earliest:
        raise ApiError(
            400,
            "INVALID_REPLICATION_DATE",
            f"startDate cannot be before {format_datetime(earliest)}: the changes before it "
            "are no longer available",
        )
    return ReplicationWindow(start, end)


def replication_routes(ctx: ApiContext) -> list[BaseRoute]:
    settings = ctx.settings

    def checked(request: Request, days: float) -> tuple[SObject, ReplicationWindow, datetime]:
        obj = ctx.sobject(request.path_params["sobject"])
        now = ctx.clock.now()
        earliest = _minute(now - timedelta(days=days))
        span = window(_parse(request, "start"), _parse(request, "end"), now, earliest)
        return obj, span, earliest

    def too_many(count: int) -> None:
        if count > settings.replication_id_limit:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                f"more than {settings.replication_id_limit} ids in the window: use a shorter one",
            )

    @endpoint
    async def updated(request: Request) -> Response:
        obj, span, _ = checked(request, settings.updated_retention_days)
        table = ctx.store.table(obj)
        stamp = table.c.SystemModstamp
        condition = sa.and_(
            table.c.IsDeleted == 0,
            stamp >= format_datetime(span.start),
            stamp < format_datetime(span.end),
        )
        with ctx.store.reading() as conn:
            query = sa.select(table.c.Id).where(condition).order_by(stamp, table.c.Id)
            ids = list(conn.execute(query.limit(settings.replication_id_limit + 1)).scalars())
        too_many(len(ids))
        return json_response({"ids": ids, "latestDateCovered": format_datetime(span.end)})

    @endpoint
    async def deleted(request: Request) -> Response:
        obj, span, earliest = checked(request, settings.deleted_retention_days)
        ctx.store.purge(format_datetime(earliest))
        table = ctx.store.table(obj)
        when = table.c[DELETED_DATE]
        condition = sa.and_(
            table.c.IsDeleted == 1,
            when >= format_datetime(span.start),
            when < format_datetime(span.end),
        )
        with ctx.store.reading() as conn:
            query = sa.select(table.c.Id, when).where(condition).order_by(when, table.c.Id)
            rows = conn.execute(query.limit(settings.replication_id_limit + 1)).all()
        too_many(len(rows))
        records: list[dict[str, Any]] = [{"deletedDate": d, "id": i} for i, d in rows]
        return json_response(
            {
                "deletedRecords": records,
                "earliestDateAvailable": format_datetime(earliest),
                "latestDateCovered": format_datetime(span.end),
            }
        )

    return [
        Route("/sobjects/{sobject}/updated", updated, methods=["GET"]),
        Route("/sobjects/{sobject}/updated/", updated, methods=["GET"]),
        Route("/sobjects/{sobject}/deleted", deleted, methods=["GET"]),
        Route("/sobjects/{sobject}/deleted/", deleted, methods=["GET"]),
    ]
