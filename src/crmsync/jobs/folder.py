"""A folder of job files: the ``*.yaml``/``*.yml`` files in it, each checked, named by its
``name`` key (by the file's name when it is invalid); two files naming one job make the second
invalid."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from crmsync.jobs.loader import check_job_text
from crmsync.jobs.models import JobFile

__all__ = ["JobFileFound", "read_job_folder"]

_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class JobFileFound:
    name: str
    path: Path
    text: str
    #: ``None`` when the file is invalid.
    job: JobFile | None
    #: Every problem of the file, with its line.
    issues: tuple[str, ...]


def read_job_folder(folder: Path, connections: Collection[str]) -> list[JobFileFound]:
    """The job files of ``folder`` (none when it is no folder), checked against the connection
    names of the configuration they run with."""
    if not folder.is_dir():
        return []
    found: list[JobFileFound] = []
    names: set[str] = set()
    for path in sorted(p for p in folder.iterdir() if p.suffix in _SUFFIXES):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            found.append(JobFileFound(path.stem, path, "", None, (f"cannot read: {exc}",)))
            continue
        job, issues = check_job_text(text, source=path.name, connections=connections)
        problems = tuple(str(issue) for issue in issues)
        name = job.name if job is not None else path.stem
        if job is not None and name in names:
            job, problems = None, (f"{path.name}: another file is also job '{name}'",)
        names.add(name)
        found.append(JobFileFound(name, path, text, job, problems))
    return found
