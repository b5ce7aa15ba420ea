"""Reading events from a file: CSV (a header row) or JSON Lines (one object per line).

Every line is checked on its own: a malformed one is reported with its line number and why, and
the good ones are kept. The columns / keys are the fields of :class:`~crmsync.events.model.Event`
(``type``, ``id``, ``profile_id``, ``delivery_id``, ``delivery_name``, ``occurred_at``, ``url``,
``bounce_type``, ``reason``), and for an unsubscribe (``type`` ``unsubscribe``) those of
:class:`~crmsync.events.model.Unsubscribe` (``attributes``: opt-out attributes, ``;``-separated in
CSV, a list or such a string in JSON); in CSV an empty cell means "no value".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from crmsync.events.model import UNSUBSCRIBE, AnyEvent, Event, Unsubscribe

__all__ = ["FileProblem", "ReadResult", "parse_events", "read_event_file"]

FileFormat = Literal["csv", "jsonl"]
_COLUMNS = frozenset(Event.model_fields) | frozenset(Unsubscribe.model_fields)
_SUFFIXES: dict[str, FileFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A line that was not accepted (line 1 of a CSV file is its header)."""

    line: int
    message: str


@dataclass(slots=True)
class ReadResult:
    events: list[AnyEvent] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)


def read_event_file(path: Path, file_format: FileFormat | None = None) -> ReadResult:
    """The events of ``path``; the format comes from its suffix unless given."""
    chosen = file_format or _SUFFIXES.get(path.suffix.lower())
    if chosen is None:
        raise ValueError(
            f"{path}: cannot tell the format from the suffix {path.suffix!r}: use .csv, .jsonl "
            "or .ndjson, or name the format"
        )
    return parse_events(path.read_bytes(), chosen)


def parse_events(data: bytes, file_format: FileFormat) -> ReadResult:
    """The events of a file's content, each line checked on its own."""
    result = ReadResult()
    lines = _csv_lines(data) if file_format == "csv" else _json_lines(data)
    for number, item in lines:
        if isinstance(item, str):
            result.problems.append(FileProblem(number, item))
            continue
        try:
            if item.get("type") == UNSUBSCRIBE:
                result.events.append(Unsubscribe.model_validate(item))
            else:
                result.events.append(Event.model_validate(item))
        except ValidationError as exc:
            result.problems.append(FileProblem(number, _describe(exc)))
    return result


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _json_lines(data: bytes) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            yield number, f"not valid JSON: {exc}"
            continue
        if not isinstance(item, dict):
            yield number, f"expected a JSON object, got {type(item).__name__}"
            continue
        yield number, item


def _csv_lines(data: bytes) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    text = _decode(data)
    if text is None:
        yield 1, "the file is not UTF-8 text"
        return
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        yield 1, f"unreadable header: {exc}"
        return
    unknown = sorted(set(header) - _COLUMNS)
    if unknown or len(set(header)) != len(header):
        problem = f"unknown column(s) {', '.join(unknown)}" if unknown else "repeated column(s)"
        yield 1, f"{problem}; the columns are {', '.join(sorted(_COLUMNS))}"
        return
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, f"unreadable CSV: {exc}"
            return
        number, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield number, f"{len(cells)} cell(s), the header has {len(header)}"
            continue
        yield number, {name: cell for name, cell in zip(header, cells, strict=True) if cell != ""}
