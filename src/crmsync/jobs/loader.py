"""Reading a job file: YAML → :class:`~crmsync.jobs.models.JobFile`, every problem with its path
and line.

The YAML positions, duplicate-key detection and located issues are the configuration package's
(:mod:`crmsync.config.positions`, :mod:`crmsync.config.errors`); only the model differs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from crmsync.config.errors import ConfigError, ConfigIssue, Loc
from crmsync.config.loader import _clean_loc
from crmsync.config.positions import DocumentTooLarge, Positions, compose_positions
from crmsync.config.suggest import did_you_mean
from crmsync.jobs.checks import connection_issues, job_issues
from crmsync.jobs.models import JobFile

__all__ = ["JobError", "check_job_text", "load_job", "load_job_text"]

JobError = ConfigError


def _model_at(data: Any, loc: Loc) -> type[BaseModel] | None:
    """The model class that reads the mapping at ``loc`` (for key suggestions)."""
    from crmsync.jobs import models

    kinds: dict[str, type[BaseModel]] = {
        "crm": models.CrmStep,
        "campaign_query": models.CampaignQueryStep,
        "deduplicate": models.DeduplicateStep,
        "update_campaign": models.UpdateCampaignStep,
        "write_file": models.WriteFileStep,
        "wait": models.WaitStep,
        "retry": models.RetryStep,
    }
    if loc == ():
        return JobFile
    if len(loc) == 2 and loc[0] == "steps" and isinstance(data, dict):
        step = data.get("steps", {}).get(loc[1])
        if isinstance(step, dict):
            return kinds.get(str(step.get("kind")))
    return None


def _schema_issues(exc: ValidationError, data: Any) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    seen: set[tuple[Loc, str]] = set()
    for error in exc.errors(include_url=False, include_input=False):
        loc = _clean_loc(error["loc"], data)
        kind = error["type"]
        if kind == "missing":
            message = "required, but missing"
        elif kind == "extra_forbidden" and loc:
            model = _model_at(data, loc[:-1])
            names = [f.alias or n for n, f in model.model_fields.items()] if model else []
            message = f"unknown key '{loc[-1]}'" + did_you_mean(str(loc[-1]), names)
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "kind")
            message = (
                "required: one of crm, campaign_query, deduplicate, update_campaign, "
                "write_file, wait, retry"
                if kind == "union_tag_not_found"
                else error["msg"]
            )
        else:
            message = error["msg"].removeprefix("Value error, ")
        if (loc, message) not in seen:
            seen.add((loc, message))
            issues.append(ConfigIssue(loc, message))
    return issues


def _locate(issues: list[ConfigIssue], positions: Positions, source: str) -> list[ConfigIssue]:
    out = []
    for issue in issues:
        found = positions.find(issue.loc) if issue.line is None else (issue.line, issue.column)
        line, column = found if found is not None else (None, None)
        out.append(replace(issue, line=line, column=column, source=source))
    return out


def check_job_text(
    text: str, *, source: str = "<job>", connections: Collection[str] | None = None
) -> tuple[JobFile | None, list[ConfigIssue]]:
    """The job in ``text`` (``None`` when it has errors) and every issue found, located.

    ``connections``: the connection names of the configuration the job runs with; a ``crm``
    step naming another is an error (not checked when ``None``).
    """
    try:
        positions, issues = compose_positions(text)
        data = yaml.safe_load(text)
    except DocumentTooLarge as exc:
        return None, [ConfigIssue((), str(exc), source=source)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        issue = ConfigIssue(
            (),
            f"not valid YAML: {problem}",
            line=mark.line + 1 if mark is not None else None,
            column=mark.column + 1 if mark is not None else None,
            source=source,
        )
        return None, [issue]
    if not isinstance(data, dict):
        issue = ConfigIssue((), "a job file is a mapping with 'name' and 'steps'")
        return None, _locate([issue], positions, source)
    try:
        job = JobFile.model_validate(data)
    except ValidationError as exc:
        return None, _locate(issues + _schema_issues(exc, data), positions, source)
    issues += job_issues(job)
    if connections is not None:
        issues += connection_issues(job, connections)
    located = _locate(issues, positions, source)
    return (None if any(i.is_error for i in located) else job), located


def load_job_text(text: str, *, source: str = "<job>") -> JobFile:
    """The job in ``text``; :class:`JobError` lists every error with its path and line."""
    job, issues = check_job_text(text, source=source)
    if job is None:
        raise JobError(issues)
    return job


def load_job(path: str | Path) -> JobFile:
    """The job file at ``path``; :class:`JobError` lists every error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise JobError([ConfigIssue((), f"cannot read: {exc}", source=str(path))]) from None
    return load_job_text(text, source=str(path))
