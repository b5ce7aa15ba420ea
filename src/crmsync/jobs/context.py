"""What a step gets to run (:class:`StepContext`) and what it gives back (:class:`StepResult`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from crmsync.jobs.connectors import ConnectorPool
from crmsync.jobs.models import JobFile
from crmsync.jobs.store import IndexSeen, JobStore

__all__ = ["Progress", "Row", "StepContext", "StepResult", "reject"]

Row = dict[str, Any]
#: Called with (records done, records expected or None).
Progress = Callable[[int, int | None], None]


def reject(record: Row, code: str, message: str) -> Row:
    """A reject row: the record, ``errorSymbol`` and ``errorMessage``."""
    return {"record": record, "errorSymbol": code, "errorMessage": message}


@dataclass
class StepContext:
    run_id: str
    seq: int
    name: str
    job: JobFile
    store: JobStore
    campaign: sa.Engine
    connectors: ConnectorPool
    variables: dict[str, str]
    now: Callable[[], datetime]
    progress: Progress = lambda _done, _total: None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.job.timezone)

    def warn(self, message: str) -> None:
        self.store.log(self.run_id, self.name, "warning", message)


@dataclass
class StepResult:
    rows: list[Row] = field(default_factory=list)
    rejects: list[Row] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    #: Per automatic index (its option's name): what the window read within its overlap,
    #: stored with the options.
    seen: dict[str, IndexSeen] = field(default_factory=dict)
    #: Overrides the transitions: (step, rows) to run next (the retry step).
    goto: list[tuple[str, list[Row]]] | None = None
