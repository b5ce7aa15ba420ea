"""The ``crm`` step: dispatch on the operation."""

from __future__ import annotations

from collections.abc import Sequence

from crmsync.jobs.context import Row, StepContext, StepResult
from crmsync.jobs.crm_deleted import run_delete, run_import_deleted
from crmsync.jobs.crm_export import run_export
from crmsync.jobs.crm_import import run_import
from crmsync.jobs.models import CrmStep

__all__ = ["run"]


async def run(ctx: StepContext, step: CrmStep, rows: Sequence[Row]) -> StepResult:
    if step.operation == "import":
        return await run_import(ctx, step, rows)
    if step.operation == "export":
        return await run_export(ctx, step, rows)
    if step.operation == "import_deleted":
        return await run_import_deleted(ctx, step)
    return await run_delete(ctx, step, rows)
