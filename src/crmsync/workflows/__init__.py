"""Running the configured workflows: side by side (``crmsync run``) or supervised, each
started and stopped on demand on its active configuration revision (``crmsync serve``)."""

from crmsync.workflows.active import ActiveConfig, Applied, Difference, open_active_config
from crmsync.workflows.backlog import store_backlogs
from crmsync.workflows.revisions import Revision, RevisionStore
from crmsync.workflows.side_by_side import (
    WorkflowRun,
    configured,
    run_side_by_side,
    standard_runs,
)
from crmsync.workflows.standard import standard_specs
from crmsync.workflows.supervisor import (
    WORKFLOW_NAMES,
    StopResult,
    Supervisor,
    WorkflowSpec,
    WorkflowView,
)

__all__ = [
    "WORKFLOW_NAMES",
    "ActiveConfig",
    "Applied",
    "Difference",
    "Revision",
    "RevisionStore",
    "StopResult",
    "Supervisor",
    "WorkflowRun",
    "WorkflowSpec",
    "WorkflowView",
    "configured",
    "open_active_config",
    "run_side_by_side",
    "standard_runs",
    "standard_specs",
    "store_backlogs",
]
