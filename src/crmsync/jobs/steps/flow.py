"""Steps that shape the flow: ``deduplicate``, ``wait`` and ``retry``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from crmsync.jobs.context import Row, StepContext, StepResult
from crmsync.jobs.models import DeduplicateStep, RetryStep, WaitStep

__all__ = ["deduplicate", "retry", "wait"]


def _key(row: Row, keys: Sequence[str]) -> tuple[object, ...]:
    return tuple(
        value.strip().lower() if isinstance(value, str) else value
        for value in (row.get(name) for name in keys)
    )


def deduplicate(step: DeduplicateStep, rows: Sequence[Row]) -> StepResult:
    """One row per key (text compared case- and space-insensitively); rows without a key pass.

    ``keep: first`` keeps the first row of each key in input order, ``last`` the last one.
    """
    kept: dict[tuple[object, ...], Row] = {}
    out: list[Row | tuple[object, ...]] = []
    for row in rows:
        key = _key(row, step.keys)
        if all(part in (None, "") for part in key):
            out.append(row)
        elif key not in kept:
            kept[key] = row
            out.append(key)
        elif step.keep == "last":
            kept[key] = row
    result = [kept[item] if isinstance(item, tuple) else item for item in out]
    return StepResult(rows=result, counts={"in": len(rows), "out": len(result)})


async def wait(step: WaitStep, rows: Sequence[Row]) -> StepResult:
    await asyncio.sleep(step.seconds)
    return StepResult(rows=list(rows), counts={"in": len(rows)})


def retry(ctx: StepContext, step: RetryStep, rows: Sequence[Row]) -> StepResult:
    """Back to ``target`` while attempts remain, else on to ``next`` (the rows unchanged).

    Rows that came from a reject output are unwrapped to their records, so that the target step
    gets the records it failed on.
    """
    done = ctx.store.count_executions(ctx.run_id, ctx.name) - 1  # this execution is running
    records = [row["record"] if _is_reject(row) else row for row in rows]
    if done < step.max_attempts:
        ctx.warn(
            f"retry {done + 1} of {step.max_attempts}: {len(records)} record(s) back to "
            f"'{step.target}'"
        )
        return StepResult(goto=[(step.target, records)], counts={"retried": len(records)})
    goto = [(step.next, list(rows))] if step.next else []
    return StepResult(goto=goto, counts={"gave_up": len(records)})


def _is_reject(row: Row) -> bool:
    return isinstance(row.get("record"), dict) and "errorSymbol" in row
