"""The ``crm`` step, ``import_deleted`` and ``delete``.

``import_deleted`` lists the records deleted in ``[start, end]`` (both days included):

- Salesforce: the connector's delete log (``getDeleted``), which refuses a start older than the
  org keeps deletions for, with an error naming the limit.
- Dataverse: change tracking. Each run reads the changes since its saved token (option
  ``DELETETOKEN_<job>_<step>``) and keeps the deletions it sees, stamped with the time they were
  first seen, in ``crmsync_job_deletions``. Deletions before tracking started cannot be known: a
  start before that is refused with an error that says from when deletions are known.

``delete`` deletes CRM records by the ids in ``id_field`` of its input; each refused id is a
reject.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from crmsync.connectors.base import Deletion, WriteOp
from crmsync.errors import ConfigurationError
from crmsync.jobs.context import Row, StepContext, StepResult, reject
from crmsync.jobs.filters import resolve_value
from crmsync.jobs.models import CrmStep
from crmsync.jobs.options import format_option_date, parse_option_date

__all__ = ["period", "run_delete", "run_import_deleted"]


def _day_bound(value: Any, variables: Mapping[str, str], now: datetime, end: bool) -> datetime:
    resolved = resolve_value(value, variables, now)
    if isinstance(resolved, datetime):
        return resolved.astimezone(UTC)
    if isinstance(resolved, date):
        return datetime.combine(resolved, time.max if end else time.min, tzinfo=UTC)
    raise ConfigurationError(f"{'end' if end else 'start'}: {value!r} is not a date")


def period(step: CrmStep, ctx: StepContext, now: datetime) -> tuple[datetime, datetime]:
    """The deletion period, both ends included; a date as ``end`` covers that whole day.

    The end is never later than ``now``.
    """
    try:
        start = _day_bound(step.start, ctx.variables, now, end=False)
        end = _day_bound(step.end, ctx.variables, now, end=True)
    except KeyError as exc:
        raise ConfigurationError(f"unknown variable {exc}") from None
    end = min(end, now)
    if start > end:
        raise ConfigurationError(
            f"the deletion period starts ({start.isoformat()}) after it ends ({end.isoformat()})"
        )
    return start, end


def _rows(found: Sequence[Deletion], key: str) -> list[Row]:
    return [
        {key: item.id, "deleted_at": item.deleted_at.isoformat() if item.deleted_at else None}
        for item in found
    ]


async def run_import_deleted(ctx: StepContext, step: CrmStep) -> StepResult:
    dialect, connector = ctx.connectors.get(step.connection)
    info = await connector.describe(step.object)
    now = ctx.now()
    start, end = period(step, ctx, now)
    if dialect == "salesforce":
        deleted = getattr(connector, "deleted", None)
        if deleted is None:
            raise ConfigurationError("this connector cannot list deleted records")
        found: list[Deletion] = await deleted(step.object, start, end + timedelta(seconds=1))
        found = [d for d in found if d.deleted_at is None or start <= d.deleted_at <= end]
        return StepResult(rows=_rows(found, info.primary_key), counts={"deleted": len(found)})
    return await _dataverse_deleted(ctx, step, connector, info.primary_key, (start, end), now)


async def _dataverse_deleted(
    ctx: StepContext,
    step: CrmStep,
    connector: Any,
    key: str,
    bounds: tuple[datetime, datetime],
    seen_now: datetime,
) -> StepResult:
    start, end = bounds
    tracker = f"{ctx.job.name}/{ctx.name}/{step.connection}/{step.object}"
    token_option = f"DELETETOKEN_{ctx.job.name}_{ctx.name}".replace("-", "_")
    since_option = f"DELETESINCE_{ctx.job.name}_{ctx.name}".replace("-", "_")
    cursor = ctx.store.option(token_option)
    table = ctx.store.t.deletions
    new_cursor: str | None = None
    with_deletions: list[Deletion] = []
    async for page in connector.track_changes(step.object, [key], cursor):
        if not page.snapshot:
            with_deletions.extend(page.deletions)
        if page.cursor is not None:
            new_cursor = page.cursor
    since_text = ctx.store.option(since_option)
    with ctx.store.engine.begin() as conn:
        for item in with_deletions:
            exists = conn.execute(
                sa.select(table.c.record_id).where(
                    table.c.tracker == tracker, table.c.record_id == item.id
                )
            ).first()
            if exists is None:
                conn.execute(
                    table.insert().values(
                        tracker=tracker, record_id=item.id, deleted_at=item.deleted_at or seen_now
                    )
                )
    options: dict[str, str] = {}
    if new_cursor is not None:
        options[token_option] = new_cursor
    if since_text is None:
        options[since_option] = format_option_date(seen_now)
        since = seen_now
    else:
        since = parse_option_date(since_text)
    if start < since - timedelta(seconds=1):
        # Keep the tracking position all the same: later periods can then be served.
        for name, value in options.items():
            ctx.store.set_option(name, value)
        raise ConfigurationError(
            f"Dataverse deletions of {step.object} are known from change tracking only since "
            f"{format_option_date(since)} UTC (when this step first ran): the period cannot "
            f"start on {format_option_date(start)}",
            table=step.object,
        )
    with ctx.store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.record_id, table.c.deleted_at)
            .where(table.c.tracker == tracker, table.c.deleted_at.between(start, end))
            .order_by(table.c.deleted_at, table.c.record_id)
        ).all()
    found = [Deletion(row.record_id, row.deleted_at) for row in rows]
    return StepResult(rows=_rows(found, key), counts={"deleted": len(found)}, options=options)


async def run_delete(ctx: StepContext, step: CrmStep, rows: Sequence[Row]) -> StepResult:
    _, connector = ctx.connectors.get(step.connection)
    info = await connector.describe(step.object)
    field = step.id_field or info.primary_key
    result = StepResult()
    targets = [row for row in rows if row.get(field) not in (None, "")]
    for row in rows:
        if row.get(field) in (None, ""):
            result.rejects.append(reject(row, "MISSING_ID", f"no CRM id in '{field}'"))
    ops = [WriteOp(kind="delete", table=info.name, id=str(row[field])) for row in targets]
    answers = await connector.write(ops) if ops else []
    for row, answer in zip(targets, answers, strict=True):
        if answer.ok:
            result.rows.append(row)
        else:
            result.rejects.append(reject(row, answer.code or "REJECTED", answer.message or ""))
        ctx.progress(len(result.rows) + len(result.rejects), len(rows))
    result.counts = {"deleted": len(result.rows), "rejected": len(result.rejects)}
    return result
