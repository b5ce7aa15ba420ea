"""Progress of the inbound workflow: records read and written, rate and backlog, per mapping.

The engine reports through the small :class:`InboundProgress` protocol; :class:`RichProgress`
draws it as live bars on a terminal (initial loads and replays), :class:`NoProgress` ignores it.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column

__all__ = ["InboundProgress", "NoProgress", "RichProgress"]


class InboundProgress(Protocol):
    def read(self, mapping: str, count: int) -> None: ...
    def written(self, mapping: str, count: int) -> None: ...
    def backlog(self, mapping: str, count: int) -> None: ...
    def close(self) -> None: ...


class NoProgress:
    """Reports nothing (scripts, tests, a service without a terminal)."""

    def read(self, mapping: str, count: int) -> None:
        pass

    def written(self, mapping: str, count: int) -> None:
        pass

    def backlog(self, mapping: str, count: int) -> None:
        pass

    def close(self) -> None:
        pass


def _text(template: str) -> TextColumn:
    """A column of the bars: on a narrow terminal its text folds onto more lines instead of
    ending in "…", so no name or figure is lost; the columns align whatever the figures' length."""
    return TextColumn(template, justify="right", table_column=Column(overflow="fold"))


class RichProgress:
    """One live line per mapping: records read, written, records per second, backlog."""

    def __init__(self, mappings: list[str], console: Console | None = None) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            _text("[bold]{task.description}[/bold]"),
            _text("read {task.fields[read]:,}"),
            _text("written {task.completed:,.0f}"),
            _text("{task.fields[rate]:,.0f} rec/s"),
            _text("backlog {task.fields[backlog]:,}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._started = time.perf_counter()
        self._tasks: dict[str, TaskID] = {
            name: self._progress.add_task(name, total=None, read=0, rate=0.0, backlog=0)
            for name in mappings
        }
        self._read = dict.fromkeys(mappings, 0)
        self._written = dict.fromkeys(mappings, 0)
        self._progress.start()

    def _update(self, mapping: str, **fields: Any) -> None:
        task = self._tasks.get(mapping)
        if task is not None:
            self._progress.update(task, **fields)

    def read(self, mapping: str, count: int) -> None:
        self._read[mapping] = self._read.get(mapping, 0) + count
        self._update(mapping, read=self._read[mapping])

    def written(self, mapping: str, count: int) -> None:
        self._written[mapping] = total = self._written.get(mapping, 0) + count
        rate = total / max(time.perf_counter() - self._started, 1e-6)
        self._update(mapping, completed=total, rate=rate)

    def backlog(self, mapping: str, count: int) -> None:
        self._update(mapping, backlog=count)

    def close(self) -> None:
        self._progress.stop()
