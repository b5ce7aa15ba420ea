"""Configuration problems: :class:`ConfigIssue` (one problem, with its place) and
:class:`ConfigError` (raised when a configuration cannot be used, carrying every issue)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from crmsync.errors import ConfigurationError

__all__ = ["ConfigError", "ConfigIssue", "Loc", "format_loc"]

Loc = tuple[str | int, ...]


def format_loc(loc: Loc) -> str:
    """``("inbound", "mappings", 1, "fields")`` → ``inbound.mappings[1].fields``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem of a configuration file, with its path in the file and, when known, its line."""

    loc: Loc
    message: str
    severity: Literal["error", "warning"] = "error"
    line: int | None = None
    column: int | None = None
    source: str | None = None

    @property
    def path(self) -> str:
        return format_loc(self.loc)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def at(self, loc: Loc) -> ConfigIssue:
        """The same issue under ``loc`` (a prefix is prepended)."""
        return replace(self, loc=loc + self.loc)

    def __str__(self) -> str:
        where = ""
        if self.source is not None or self.line is not None:
            where = f"{self.source or '<config>'}"
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}{prefix}{self.path}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "message": self.message,
            "severity": self.severity,
            "line": self.line,
            "column": self.column,
            "source": self.source,
        }


class ConfigError(ConfigurationError):
    """The configuration cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = tuple(issues)
        errors = [issue for issue in self.issues if issue.is_error] or list(self.issues)
        lines = "\n".join(f"  {issue}" for issue in errors)
        super().__init__(
            f"the configuration has {len(errors)} error(s):\n{lines}", code="invalid_config"
        )
