"""The ``write_file`` step: the input rows as CSV or JSON Lines; the rows pass on unchanged."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from crmsync.jobs.context import Row, StepContext, StepResult
from crmsync.jobs.models import WriteFileStep
from crmsync.jobs.store import dumps

__all__ = ["run"]


def run(ctx: StepContext, step: WriteFileStep, rows: Sequence[Row]) -> StepResult:
    path = Path(step.path.replace("{run_id}", ctx.run_id))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    with temporary.open("w", encoding="utf-8", newline="") as out:
        if step.format == "jsonl":
            for row in rows:
                out.write(dumps(row) + "\n")
        else:
            columns = list(dict.fromkeys(name for row in rows for name in row))
            writer = csv.DictWriter(out, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    temporary.replace(path)
    return StepResult(rows=list(rows), counts={"written": len(rows)})
