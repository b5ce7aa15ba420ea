"""Settling the Salesforce creates an export left under way when it stopped.

Salesforce chooses the id of a record it creates, so a create whose answer never came back (the
process was killed, the connection died, the run failed) cannot simply be sent again: it may have
happened. Before each call the export keeps its send time, in Salesforce's clock
(``crmsync_job_sends``); when the step runs again, the records of that call (``sending`` in the
journal) are looked for among the records the connection's user created since then, matched on
the values exported (:meth:`~crmsync.connectors.salesforce.SalesforceConnector.created_matching`).
Records already known to the run's journal are set aside, then, for each set of records sent with
the same values:

- no match: they were not created; they are sent again;
- as many matches as records, or fewer: those were created (identical records are
  interchangeable): their ids are recorded and the others are sent again;
- more matches than records: records with the same values were also created by someone else
  since, and which ones are this export's cannot be told: each becomes a reject ``IN_DOUBT``,
  whose message recommends an external id (upserts are resent safely).

The look-up waits until :data:`SETTLE_SECONDS` have passed since the call was sent, so that a
call Salesforce was still processing when its sender stopped has finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

import sqlalchemy as sa

from crmsync.jobs.context import StepContext
from crmsync.jobs.store import loads

__all__ = ["IN_DOUBT", "CreatedLookup", "in_flight_create", "lookup_of", "record_send", "settle"]

IN_DOUBT = "IN_DOUBT"
#: How long after a call's send time its records are looked for.
SETTLE_SECONDS = 5.0
#: How far before the send time creations are looked for (clock differences between servers).
_MARGIN = timedelta(seconds=2)
_ID_CHUNK = 500


class CreatedLookup(Protocol):
    """What a connector offers to find the records an interrupted create made (Salesforce)."""

    def server_now(self) -> datetime: ...

    async def created_matching(
        self, table: str, records: Sequence[Mapping[str, Any]], since: datetime
    ) -> list[list[str]]: ...


def lookup_of(connector: object) -> CreatedLookup | None:
    """``connector`` when it can look created records up, else ``None``."""
    if callable(getattr(connector, "created_matching", None)) and callable(
        getattr(connector, "server_now", None)
    ):
        return cast(CreatedLookup, connector)
    return None


def in_flight_create(op: Mapping[str, Any]) -> bool:
    """Whether a journal operation is a create whose id the CRM chooses (Salesforce)."""
    return op["kind"] == "create" and not op.get("id")


def record_send(conn: sa.Connection, ctx: StepContext, sent_at: datetime) -> None:
    """Keep ``sent_at`` as the send time of the step execution's call under way."""
    sends = ctx.store.t.sends
    mine = (sends.c.run_id == ctx.run_id) & (sends.c.seq == ctx.seq)
    conn.execute(sends.delete().where(mine))
    conn.execute(sends.insert().values(run_id=ctx.run_id, seq=ctx.seq, sent_at=sent_at))


async def settle(
    ctx: StepContext, lookup: CreatedLookup | None, table: str, items: Sequence[Any]
) -> None:
    """Resolve the journal rows ``items`` (``idx``, ``op``: creates left ``sending``): each
    becomes ``ok`` with the id found, ``pending`` to be sent again, or ``rejected`` IN_DOUBT."""
    if not items:
        return
    if lookup is None:
        _finish(ctx, {}, [], [item.idx for item in items], _NO_LOOKUP)
        return
    sent_at = _sent_at(ctx)
    wait = (sent_at - lookup.server_now()).total_seconds() + SETTLE_SECONDS
    if wait > 0:
        await asyncio.sleep(min(wait, SETTLE_SECONDS))
    values = [loads(item.op)["op"]["values"] for item in items]
    found = await lookup.created_matching(table, values, sent_at - _MARGIN)
    known = _known_ids(ctx, {i for ids in found for i in ids})
    groups: dict[tuple[str, ...], list[int]] = {}
    for item, matches in zip(items, found, strict=True):
        groups.setdefault(tuple(i for i in matches if i not in known), []).append(item.idx)
    created: dict[int, str] = {}
    again: list[int] = []
    doubtful: list[int] = []
    for free, indexes in groups.items():
        if len(free) > len(indexes):
            doubtful += indexes
            continue
        created.update(zip(indexes, free, strict=False))
        again += indexes[len(free) :]
    _finish(ctx, created, again, doubtful, _AMBIGUOUS)


_ADVICE = (
    "; map an external id field and set it as the step's key: upserts by key are resent safely"
)
_NO_LOOKUP = (
    "the run stopped while this record was being created and this connection cannot look up "
    "what was created: check whether it exists" + _ADVICE
)
_AMBIGUOUS = (
    "the run stopped while this record was being created, and since then more records with "
    "the same values were created by the connection's user than this export sent: which one, if "
    "any, is this record cannot be told; check them by hand" + _ADVICE
)


def _sent_at(ctx: StepContext) -> datetime:
    """The kept send time; for a journal without one, when the run started."""
    sends, runs = ctx.store.t.sends, ctx.store.t.runs
    with ctx.store.engine.connect() as conn:
        sent_at = conn.execute(
            sa.select(sends.c.sent_at).where(sends.c.run_id == ctx.run_id, sends.c.seq == ctx.seq)
        ).scalar_one_or_none()
        if sent_at is None:
            sent_at = conn.execute(
                sa.select(runs.c.started_at).where(runs.c.id == ctx.run_id)
            ).scalar_one()
    return cast(datetime, sent_at)


def _known_ids(ctx: StepContext, ids: set[str]) -> set[str]:
    """Those of ``ids`` the run's journal already holds as exported."""
    journal = ctx.store.t.journal
    ordered = sorted(ids)
    known: set[str] = set()
    with ctx.store.engine.connect() as conn:
        for start in range(0, len(ordered), _ID_CHUNK):
            known.update(
                conn.execute(
                    sa.select(journal.c.crm_id).where(
                        journal.c.run_id == ctx.run_id,
                        journal.c.crm_id.in_(ordered[start : start + _ID_CHUNK]),
                    )
                ).scalars()
            )
    return known


def _finish(
    ctx: StepContext,
    created: Mapping[int, str],
    again: Sequence[int],
    doubtful: Sequence[int],
    message: str,
) -> None:
    """Record the outcome and forget the send, in one transaction."""
    journal, sends = ctx.store.t.journal, ctx.store.t.sends
    mine = (journal.c.run_id == ctx.run_id) & (journal.c.seq == ctx.seq)
    row = journal.update().where(mine, journal.c.idx == sa.bindparam("b_idx"))
    with ctx.store.engine.begin() as conn:
        if created:
            conn.execute(
                row.values(status="ok", crm_id=sa.bindparam("b_crm_id")),
                [{"b_idx": idx, "b_crm_id": crm_id} for idx, crm_id in created.items()],
            )
        if again:
            conn.execute(
                journal.update().where(mine, journal.c.idx.in_(again)).values(status="pending")
            )
        if doubtful:
            conn.execute(
                journal.update()
                .where(mine, journal.c.idx.in_(doubtful))
                .values(status="rejected", code=IN_DOUBT, message=message)
            )
        conn.execute(sends.delete().where(sends.c.run_id == ctx.run_id, sends.c.seq == ctx.seq))
