"""Running the configured workflows side by side (``crmsync run``)."""

from crmsync.workflows.backlog import store_backlogs
from crmsync.workflows.side_by_side import (
    WorkflowRun,
    configured,
    counts_table,
    run_side_by_side,
    standard_runs,
)

__all__ = [
    "WorkflowRun",
    "configured",
    "counts_table",
    "run_side_by_side",
    "standard_runs",
    "store_backlogs",
]
