"""The ``crm`` step, ``export``: Campaign records → CRM records, through a durable journal.

Before anything is sent, every operation is written to the journal (``crmsync_job_journal``,
one row per record, status ``pending``). Each call first marks its rows ``sending`` (keeping the
call's send time), then records each result (``ok`` with the CRM id, or ``rejected`` with code
and message) in one transaction. A run restarted after a crash skips ``ok`` and ``rejected``
rows, and resends ``sending`` rows only when that is harmless:

- upserts (by primary key or by an alternate/external key) are idempotent: sent again;
- Dataverse creates carry an id chosen here and kept in the journal, so they are sent again as
  upserts of that id;
- Salesforce creates (Salesforce chooses ids) are first looked for among the records created
  since the call was sent (:mod:`crmsync.jobs.export_in_flight`): those found are recorded, the
  others sent again; only a match that cannot be told apart becomes a reject ``IN_DOUBT``.

The journal of a run is deleted when the run succeeds.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from crmsync.connectors.base import TableInfo, WriteOp, WriteResult
from crmsync.jobs.context import Row, StepContext, StepResult, reject
from crmsync.jobs.conversions import export_value
from crmsync.jobs.export_in_flight import in_flight_create, lookup_of, record_send, settle
from crmsync.jobs.models import CrmStep
from crmsync.jobs.query_values import field_of
from crmsync.jobs.store import dumps, loads

__all__ = ["BATCH_SIZES", "run_export"]

#: Operations per connector call with ``batch: true`` (Dataverse ``$batch``, Salesforce
#: sObject Collections); ``batch: false`` sends one request per record.
BATCH_SIZES = {"dataverse": 1000, "salesforce": 200}


def _op(dialect: str, info: TableInfo, step: CrmStep, row: Row, ctx: StepContext) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in step.mapping:
        field = field_of(info, item.crm, f"mapping ({item.crm})")
        values[item.crm] = export_value(field, row.get(item.campaign), item.conversion, ctx.tz)
    op: dict[str, Any] = {"table": info.name}
    key = step.key
    if key is not None and values.get(key) not in (None, ""):
        value = values.pop(key)
        if key == info.primary_key:
            op.update(kind="upsert" if dialect == "dataverse" else "update", id=str(value))
        else:
            op.update(kind="upsert", key={key: value})
    elif dialect == "dataverse":
        op.update(kind="create", id=str(uuid.uuid4()))
    else:
        op.update(kind="create")
    op["values"] = values
    return op


def _write_op(op: dict[str, Any], resend: bool) -> WriteOp:
    kind = op["kind"]
    if resend and kind == "create" and op.get("id"):
        kind = "upsert"  # Dataverse: the id was chosen here, the retry cannot duplicate
    return WriteOp(
        kind=kind, table=op["table"], values=op["values"], id=op.get("id"), key=op.get("key")
    )


def _journal(ctx: StepContext) -> Any:
    j = ctx.store.t.journal
    return j, (j.c.run_id == ctx.run_id) & (j.c.seq == ctx.seq)


async def run_export(ctx: StepContext, step: CrmStep, rows: Sequence[Row]) -> StepResult:
    dialect, connector = ctx.connectors.get(step.connection)
    info = await connector.describe(step.object)
    journal, mine = _journal(ctx)
    engine = ctx.store.engine
    with engine.begin() as conn:
        existing = conn.execute(sa.select(sa.func.count()).where(mine)).scalar_one()
        if existing == 0 and rows:
            conn.execute(
                journal.insert(),
                [
                    {
                        "run_id": ctx.run_id,
                        "seq": ctx.seq,
                        "idx": index,
                        "op": dumps({"op": _op(dialect, info, step, row, ctx), "row": row}),
                        "status": "pending",
                    }
                    for index, row in enumerate(rows)
                ],
            )
    lookup = lookup_of(connector) if dialect == "salesforce" else None
    todo = _todo(ctx)
    await settle(
        ctx,
        lookup,
        info.name,
        [item for item in todo if item.status == "sending" and in_flight_create(item.operation)],
    )
    todo = _todo(ctx)
    total = len(rows) if rows else int(existing)
    size = BATCH_SIZES[dialect] if step.batch else 1
    done = total - len(todo)
    for start in range(0, len(todo), size):
        chunk = todo[start : start + size]
        indexes = [item.idx for item in chunk]
        with engine.begin() as conn:
            conn.execute(
                journal.update().where(mine, journal.c.idx.in_(indexes)).values(status="sending")
            )
            if lookup is not None:
                record_send(conn, ctx, lookup.server_now())
        ops = [_write_op(item.operation, item.status == "sending") for item in chunk]
        results = await connector.write(ops, batch=step.batch)
        _record(ctx, indexes, results)
        done += len(chunk)
        ctx.progress(done, total)
    return _outcome(ctx, info)


@dataclass(frozen=True, slots=True)
class _Todo:
    idx: int
    op: str
    status: str

    @property
    def operation(self) -> dict[str, Any]:
        op: dict[str, Any] = loads(self.op)["op"]
        return op


def _todo(ctx: StepContext) -> list[_Todo]:
    """The journal rows still to send (``pending``, or ``sending`` when the run stopped)."""
    journal, mine = _journal(ctx)
    with ctx.store.engine.connect() as conn:
        return [
            _Todo(item.idx, item.op, item.status)
            for item in conn.execute(
                sa.select(journal.c.idx, journal.c.op, journal.c.status)
                .where(mine, journal.c.status.in_(("pending", "sending")))
                .order_by(journal.c.idx)
            )
        ]


def _record(ctx: StepContext, indexes: Sequence[int], results: Sequence[WriteResult]) -> None:
    """Record one call's results in one transaction: one statement for the successes and one
    for the rejects, each run for all their rows at once (``executemany``)."""
    journal, mine = _journal(ctx)
    ok: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for idx, result in zip(indexes, results, strict=True):
        if result.ok:
            ok.append({"b_idx": idx, "b_crm_id": result.id})
        else:
            rejected.append(
                {
                    "b_idx": idx,
                    "b_code": (result.code or "REJECTED")[:255],
                    "b_message": result.message or "",
                }
            )
    row = journal.update().where(mine, journal.c.idx == sa.bindparam("b_idx"))
    with ctx.store.engine.begin() as conn:
        if ok:
            conn.execute(row.values(status="ok", crm_id=sa.bindparam("b_crm_id")), ok)
        if rejected:
            conn.execute(
                row.values(
                    status="rejected",
                    code=sa.bindparam("b_code"),
                    message=sa.bindparam("b_message"),
                ),
                rejected,
            )


def _outcome(ctx: StepContext, info: TableInfo) -> StepResult:
    journal, mine = _journal(ctx)
    with ctx.store.engine.connect() as conn:
        items = conn.execute(
            sa.select(
                journal.c.op, journal.c.status, journal.c.crm_id, journal.c.code, journal.c.message
            )
            .where(mine)
            .order_by(journal.c.idx)
        ).all()
    result = StepResult()
    for item in items:
        row = loads(item.op)["row"]
        if item.status == "ok":
            result.rows.append({**row, info.primary_key: item.crm_id})
        else:
            result.rejects.append(reject(row, item.code or "REJECTED", item.message or ""))
    result.counts = {"exported": len(result.rows), "rejected": len(result.rejects)}
    return result
