"""Settling the Salesforce creates an export left under way when it stopped.

Salesforce chooses the id of a record it creates, so a create whose answer never came back (the
process was killed, the run failed) cannot simply be sent again: it may have happened. Before
each call the export keeps its send time, in Salesforce's clock (``crmsync_job_sends``); when the
step runs again, the records of that call (``sending`` in the journal) are looked for among the
records the connection's user created since then, matched on the values exported, the records
the run's journal already holds set aside
(:meth:`~crmsync.connectors.salesforce.SalesforceConnector.settle_creates`). Those found are
recorded as exported, the others sent again; those that cannot be told apart from records with
the same values created by someone else become rejects ``IN_DOUBT``, whose message recommends an
external id (upserts are resent safely).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, cast

import sqlalchemy as sa

from crmsync.connectors.salesforce.created import Known, Settled
from crmsync.connectors.salesforce.writer import IN_DOUBT
from crmsync.jobs.context import StepContext
from crmsync.jobs.store import loads

__all__ = ["IN_DOUBT", "CreatedLookup", "in_flight_create", "lookup_of", "record_send", "settle"]

_ID_CHUNK = 500


class CreatedLookup(Protocol):
    """What a connector offers to settle creates whose answer was lost (Salesforce)."""

    def server_now(self) -> datetime: ...

    async def settle_creates(
        self, table: str, records: Sequence[Mapping[str, Any]], sent_at: datetime, known: Known
    ) -> Settled: ...


def lookup_of(connector: object) -> CreatedLookup | None:
    """``connector`` when it can settle lost creates, else ``None``."""
    if callable(getattr(connector, "settle_creates", None)) and callable(
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
    indexes = [item.idx for item in items]
    if lookup is None:
        _finish(ctx, {}, [], indexes, _NO_LOOKUP)
        return
    values = [loads(item.op)["op"]["values"] for item in items]
    settled = await lookup.settle_creates(
        table, values, _sent_at(ctx), lambda ids: _known_ids(ctx, ids)
    )
    _finish(
        ctx,
        {indexes[position]: crm_id for position, crm_id in settled.created.items()},
        [indexes[position] for position in settled.again],
        [indexes[position] for position in settled.doubtful],
        _AMBIGUOUS,
    )


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


def _known_ids(ctx: StepContext, ids: Collection[str]) -> set[str]:
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
