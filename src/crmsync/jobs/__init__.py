"""Jobs: YAML pipelines of steps (CRM import/export/deletions, Campaign queries and updates),
run and resumed from the Campaign store (SPEC §4)."""

from crmsync.jobs.connectors import ConnectorPool
from crmsync.jobs.loader import JobError, check_job_text, load_job, load_job_text
from crmsync.jobs.models import JobFile
from crmsync.jobs.runner import JobRunner, RunFailed
from crmsync.jobs.store import JobStore

__all__ = [
    "ConnectorPool",
    "JobError",
    "JobFile",
    "JobRunner",
    "JobStore",
    "RunFailed",
    "check_job_text",
    "load_job",
    "load_job_text",
]
