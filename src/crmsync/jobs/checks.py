"""Rules of a job file that span several keys, each problem reported at its path.

Transitions must name existing steps; ``on_reject`` / ``on_error`` need their switch; each CRM
operation accepts its own keys only; filters follow the rules of :mod:`crmsync.jobs.filters`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import date
from typing import Any

from crmsync.config.errors import ConfigIssue, Loc
from crmsync.config.suggest import did_you_mean
from crmsync.jobs.filters import check_filter
from crmsync.jobs.models import CampaignQueryStep, CrmStep, JobFile, RetryStep
from crmsync.jobs.schedule import schedule_issues, zone_issues

__all__ = ["connection_issues", "job_issues"]

_OPERATION_KEYS: dict[str, frozenset[str]] = {
    "import": frozenset({"fields", "filter", "order_by", "automatic_index", "upstream"}),
    "export": frozenset({"mapping", "key", "batch"}),
    "import_deleted": frozenset({"start", "end"}),
    "delete": frozenset({"id_field"}),
}
_ALL_OPERATION_KEYS = frozenset().union(*_OPERATION_KEYS.values())


def _target(job: JobFile, loc: Loc, name: str | None) -> Iterator[ConfigIssue]:
    if name is not None and name not in job.steps:
        yield ConfigIssue(loc, f"no step named '{name}'" + did_you_mean(name, job.steps))


def _date_value(value: Any, loc: Loc) -> Iterator[ConfigIssue]:
    if value is None:
        yield ConfigIssue(loc, "required, but missing")
    elif isinstance(value, dict):
        if list(value) not in (["var"], ["days_ago"]):
            yield ConfigIssue(loc, "a date is a literal (2024-05-01) or {days_ago: N} or {var: X}")
    elif not isinstance(value, str | date):
        yield ConfigIssue(loc, "a date is a literal (2024-05-01) or {days_ago: N} or {var: X}")


def _crm_issues(job: JobFile, name: str, step: CrmStep) -> Iterator[ConfigIssue]:
    loc: Loc = ("steps", name)
    allowed = _OPERATION_KEYS[step.operation]
    for key in sorted((step.model_fields_set & _ALL_OPERATION_KEYS) - allowed):
        yield ConfigIssue(
            (*loc, key), f"'{key}' does not apply to the '{step.operation}' operation"
        )
    if step.on_reject is not None and not step.process_rejects:
        yield ConfigIssue((*loc, "on_reject"), "set 'process_rejects: true' to use 'on_reject'")
    if step.on_error is not None and not step.process_errors:
        yield ConfigIssue((*loc, "on_error"), "set 'process_errors: true' to use 'on_error'")
    if step.operation == "import":
        if step.upstream is not None and step.filter is not None:
            yield ConfigIssue(
                (*loc, "upstream"), "give 'filter' or 'upstream' (ids from the previous step)"
            )
        if step.upstream is not None and step.automatic_index is not None:
            yield ConfigIssue(
                (*loc, "automatic_index"), "the automatic index does not apply to 'upstream'"
            )
        yield from check_filter(step.filter, (*loc, "filter"))
    elif step.operation == "export":
        if not step.mapping:
            yield ConfigIssue((*loc, "mapping"), "an export needs at least one mapped field")
        crm_fields = [item.crm for item in step.mapping]
        for index, item in enumerate(step.mapping):
            if crm_fields.index(item.crm) != index:
                yield ConfigIssue((*loc, "mapping", index, "crm"), f"'{item.crm}' is mapped twice")
        if step.key is not None and step.key not in crm_fields:
            yield ConfigIssue(
                (*loc, "key"),
                f"the key '{step.key}' must be one of the mapped CRM fields"
                + did_you_mean(step.key, crm_fields),
            )
    elif step.operation == "import_deleted":
        yield from _date_value(step.start, (*loc, "start"))
        yield from _date_value(step.end, (*loc, "end"))
    elif step.id_field is None:
        yield ConfigIssue((*loc, "id_field"), "a delete needs the input field holding CRM ids")


def job_issues(job: JobFile) -> list[ConfigIssue]:
    """Every cross-key problem of ``job``."""
    issues: list[ConfigIssue] = []
    issues += zone_issues(job.timezone, ("timezone",))
    issues += schedule_issues(job)
    issues += _target(job, ("start",), job.start)
    for name, step in job.steps.items():
        loc: Loc = ("steps", name)
        issues += _target(job, (*loc, "next"), step.next)
        if step.next == name:
            issues.append(ConfigIssue((*loc, "next"), "a step cannot follow itself"))
        if isinstance(step, CrmStep):
            issues += _target(job, (*loc, "on_reject"), step.on_reject)
            issues += _target(job, (*loc, "on_error"), step.on_error)
            issues += _crm_issues(job, name, step)
        elif isinstance(step, RetryStep):
            issues += _target(job, (*loc, "target"), step.target)
        elif isinstance(step, CampaignQueryStep):
            issues += check_filter(step.filter, (*loc, "filter"))
    return issues


def connection_issues(job: JobFile, connections: Collection[str]) -> list[ConfigIssue]:
    """Each ``crm`` step naming a connection that is not one of ``connections`` (those of the
    configuration the job runs with)."""
    return [
        ConfigIssue(
            ("steps", name, "connection"),
            f"no connection named '{step.connection}' in the configuration"
            + did_you_mean(step.connection, connections),
        )
        for name, step in job.steps.items()
        if isinstance(step, CrmStep) and step.connection not in connections
    ]
