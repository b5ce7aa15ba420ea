"""One module per step kind; :func:`run_step` dispatches on the step's model."""

from __future__ import annotations

from collections.abc import Sequence

from crmsync.jobs.context import Row, StepContext, StepResult
from crmsync.jobs.models import (
    CampaignQueryStep,
    CrmStep,
    DeduplicateStep,
    RetryStep,
    Step,
    UpdateCampaignStep,
    WaitStep,
    WriteFileStep,
)

__all__ = ["run_step"]


async def run_step(ctx: StepContext, step: Step, rows: Sequence[Row]) -> StepResult:
    from crmsync.jobs.steps import campaign, crm, flow, write_file

    if isinstance(step, CrmStep):
        return await crm.run(ctx, step, rows)
    if isinstance(step, CampaignQueryStep):
        return campaign.query(ctx, step)
    if isinstance(step, UpdateCampaignStep):
        return campaign.update(ctx, step, rows)
    if isinstance(step, DeduplicateStep):
        return flow.deduplicate(step, rows)
    if isinstance(step, WriteFileStep):
        return write_file.run(ctx, step, rows)
    if isinstance(step, WaitStep):
        return await flow.wait(step, rows)
    if isinstance(step, RetryStep):
        return flow.retry(ctx, step, rows)
    raise TypeError(f"unknown step {step!r}")
