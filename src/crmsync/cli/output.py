"""What the CLI prints through Rich, never cut: tables and lines whole at any width.

Rich sizes its output to the terminal and, when there is none (a pipe, a file, a CI log), to 80
columns or ``COLUMNS``; a cell too long for its column then ends in "…" and is lost to whoever
reads it. Here, on a terminal, the terminal's width is used and long cells fold onto more lines;
elsewhere the width is one no line reaches, so every line comes out whole for scripts and logs.
"""

from __future__ import annotations

from typing import Any

from rich import table
from rich.console import Console, OverflowMethod, RenderableType

__all__ = ["Table", "cli_console"]

#: The width when the output is not a terminal: wider than any line crmsync prints.
UNCUT_WIDTH = 10_000


def cli_console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr): the terminal's width, or :data:`UNCUT_WIDTH` off one."""
    console = Console(stderr=stderr)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, width=UNCUT_WIDTH)


class Table(table.Table):
    """A Rich table whose long cells fold onto more lines instead of ending in "…"."""

    def add_column(
        self,
        header: RenderableType = "",
        footer: RenderableType = "",
        *,
        overflow: OverflowMethod = "fold",
        **options: Any,
    ) -> None:
        super().add_column(header, footer, overflow=overflow, **options)
