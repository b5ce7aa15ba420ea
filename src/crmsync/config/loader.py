"""Reading the configuration file: YAML → :class:`~crmsync.config.models.Config`, with every
problem reported by path and line.

:func:`check_config_file` never raises for a bad file: it returns a :class:`ConfigReport` with
every issue (YAML syntax, duplicate keys, schema errors, static rules, missing secrets as
warnings). :func:`load_config` returns the configuration or raises
:class:`~crmsync.config.errors.ConfigError` listing every error. Relative paths in a file resolve
against the file's folder (:mod:`crmsync.config.paths`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from crmsync.config.checks import check_secrets, static_issues
from crmsync.config.errors import ConfigError, ConfigIssue, Loc
from crmsync.config.keys import allowed_keys, can_set_aside, entry_to_leave_out, value_at
from crmsync.config.left_out import LeftOut, leave_out, placed_back
from crmsync.config.models import Config
from crmsync.config.paths import resolve_paths
from crmsync.config.positions import (
    DocumentTooDeep,
    DocumentTooLarge,
    Positions,
    compose_positions,
)
from crmsync.config.suggest import did_you_mean

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails  # pydantic's own core, pinned by pydantic

__all__ = [
    "ConfigReport",
    "check_config_file",
    "check_config_text",
    "load_config",
    "load_config_text",
]


@dataclass(frozen=True, slots=True)
class ConfigReport:
    """The outcome of checking a configuration: the model (when it parsed) and every issue."""

    source: str
    config: Config | None
    issues: tuple[ConfigIssue, ...]
    #: Where each path of the file is, to place the issues of later checks (:meth:`with_issues`).
    positions: Positions | None = field(default=None, repr=False, compare=False)

    def with_issues(self, issues: Sequence[ConfigIssue]) -> ConfigReport:
        """This report with ``issues`` (of a later check, e.g. against the CRM) added, each
        placed at its line in the file."""
        located = _locate(issues, self.positions or Positions({}), self.source)
        return replace(self, issues=(*self.issues, *located))

    @property
    def errors(self) -> tuple[ConfigIssue, ...]:
        return tuple(issue for issue in self.issues if issue.is_error)

    @property
    def warnings(self) -> tuple[ConfigIssue, ...]:
        return tuple(issue for issue in self.issues if not issue.is_error)

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.errors


def _clean_loc(loc: Sequence[str | int], data: Any) -> Loc:
    """Pydantic's error location without union tags and member names, as found in ``data``."""
    out: list[str | int] = []
    current = data
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            out.append(part)
            current = current[part]
        elif last and isinstance(current, dict) and part != current.get("kind"):
            out.append(part)  # a missing or unknown key
        # else: a discriminated-union tag or a union member's name: not part of the file
    return tuple(out)


def _message(error: ErrorDetails, loc: Loc, data: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required, but missing"
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        return f"unknown key '{key}'" + did_you_mean(key, allowed_keys(loc[:-1], data))
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _schema_issues(exc: ValidationError, data: Any) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    seen: set[tuple[Loc, str]] = set()
    for error in exc.errors(include_url=False, include_input=False):
        loc = _clean_loc(error["loc"], data)
        message = _message(error, loc, data)
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "kind")
            message = (
                "required: one of 'dataverse', 'salesforce'"
                if error["type"] == "union_tag_not_found"
                else message
            )
        if (loc, message) not in seen:
            seen.add((loc, message))
            issues.append(ConfigIssue(loc, message))
    return issues


def _locate(issues: Sequence[ConfigIssue], positions: Positions, source: str) -> list[ConfigIssue]:
    located: list[ConfigIssue] = []
    for issue in issues:
        found = positions.find(issue.loc) if issue.line is None else (issue.line, issue.column)
        line, column = found if found is not None else (None, None)
        located.append(replace(issue, line=line, column=column, source=source))
    return located


def check_config_text(
    text: str,
    *,
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
    base: Path | None = None,
) -> ConfigReport:
    """Check a configuration given as YAML text; see :func:`check_config_file`.

    Relative paths in it resolve against the folder ``base`` (the configuration file's); without
    it they are kept as written, so they resolve against the working directory.
    """
    try:
        positions, issues = compose_positions(text)
        data = yaml.safe_load(text)
    except DocumentTooDeep as exc:
        issue = ConfigIssue((), str(exc), line=exc.line, column=exc.column, source=source)
        return ConfigReport(source, None, (issue,))
    except DocumentTooLarge as exc:
        return ConfigReport(source, None, (ConfigIssue((), str(exc), source=source),))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        issue = ConfigIssue((), f"not valid YAML: {problem}", line=line, column=column)
        return ConfigReport(source, None, (replace(issue, source=source),))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        issue = ConfigIssue((), "the file must be a mapping of sections (connections, store, …)")
        return ConfigReport(source, None, tuple(_locate([issue], positions, source)))
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        schema = _schema_issues(exc, data)
        issues += schema + _issues_beside(schema, data, environ)
        return ConfigReport(source, None, tuple(_locate(issues, positions, source)))
    if base is not None:
        config = resolve_paths(config, base)
    issues += static_issues(config)
    issues += check_secrets(config, environ)
    return ConfigReport(source, config, tuple(_locate(issues, positions, source)), positions)


def _without(data: dict[str, Any], locs: Sequence[Loc]) -> dict[str, Any]:
    """A copy of ``data`` without the keys at ``locs`` (list items are kept in place)."""
    pruned = copy.deepcopy(data)
    for loc in locs:
        parent = value_at(loc[:-1], pruned)
        if loc and isinstance(parent, dict):
            parent.pop(loc[-1], None)
    return pruned


def _issues_beside(
    schema: Sequence[ConfigIssue], data: dict[str, Any], environ: Mapping[str, str] | None
) -> list[ConfigIssue]:
    """The static checks' and secrets' issues of the rest of the file, despite ``schema`` errors.

    The keys in error are left out when that changes nothing else (an unknown key, or a
    section's own value, which takes its default), never a list or map of entries others may
    name (connections, resources). When a required value is still wrong or missing, the list
    entry holding it is left out too (an inbound or opt-in/out mapping, a replacement, a filter
    condition: entries nobody else refers to). When the rest then validates, its own problems
    are reported too, at their places in the file, except any under a key or entry left out;
    when it does not (a required value of a connection or a resource is wrong), only the schema
    errors can be reported.
    """
    locs = [issue.loc for issue in schema if can_set_aside(issue.loc, data)]
    rest_data = _without(data, locs)
    left_out: LeftOut = {}
    try:
        rest = Config.model_validate(rest_data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        entries = [entry_to_leave_out(_clean_loc(e["loc"], rest_data), rest_data) for e in errors]
        if None in entries:
            return []
        left_out = leave_out(rest_data, [entry for entry in entries if entry is not None])
        try:
            rest = Config.model_validate(rest_data)
        except ValidationError:
            return []
    found = [placed_back(i, left_out) for i in static_issues(rest) + check_secrets(rest, environ)]
    # A list that lost entries is not judged as a whole (an opt-in/out direction without mappings).
    return [
        i
        for i in found
        if not any(i.loc[: len(loc)] == loc for loc in locs) and i.loc not in left_out
    ]


def check_config_file(
    path: str | Path, *, environ: Mapping[str, str] | None = None
) -> ConfigReport:
    """Check the configuration file at ``path``: every issue, never an exception for bad input.

    Relative paths in the file resolve against the file's folder.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return ConfigReport(
            source, None, (ConfigIssue((), f"cannot read: {reason}", source=source),)
        )
    return check_config_text(text, source=source, environ=environ, base=Path(path).parent)


def _config_or_raise(report: ConfigReport) -> Config:
    if report.config is None or report.errors:
        raise ConfigError(report.issues)
    return report.config


def load_config_text(
    text: str,
    *,
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
    base: Path | None = None,
) -> Config:
    """The configuration in ``text``; :class:`ConfigError` lists every error.

    Relative paths resolve against the folder ``base``, or the working directory without it.
    """
    return _config_or_raise(check_config_text(text, source=source, environ=environ, base=base))


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Config:
    """The configuration file at ``path``, its relative paths resolved against its folder;
    :class:`ConfigError` lists every error."""
    return _config_or_raise(check_config_file(path, environ=environ))
