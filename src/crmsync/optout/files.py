"""The optional daily opt-out file exchange: CSV files in a folder.

:func:`export_changes` writes the opt-outs changed since the last export to
``optouts-<UTC time>.csv`` (``external_id,attribute,opted_out,changed_at``) and remembers how far
it went; :func:`import_file` reads such a file and applies every good line through the Campaign
change path (so imported changes reach the CRM like any other), reporting bad lines by number.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from crmsync.errors import RejectError
from crmsync.optout.changes import set_opt_outs
from crmsync.optout.tables import CURSOR
from crmsync.store.engine import write_transaction
from crmsync.store.optouts import OPT_OUT_NAMES, changed_at_column

__all__ = ["COLUMNS", "ImportReport", "export_changes", "import_file"]

COLUMNS = ("external_id", "attribute", "opted_out", "changed_at")
_EXPORT_MARK = "file_export"
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


@dataclass(slots=True)
class ImportReport:
    """Lines applied (changed a value), unchanged, and refused (line number, why)."""

    applied: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def export_changes(
    engine: sa.Engine, profile: sa.Table, folder: Path, *, now: datetime | None = None
) -> tuple[Path, int]:
    """Write the opt-outs changed since the last export; return the file and its row count."""
    stamp = now or datetime.now(UTC)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"optouts-{stamp:%Y%m%dT%H%M%SZ}.csv"
    with write_transaction(engine) as conn:
        mark = conn.execute(
            sa.select(CURSOR.c.cursor).where(CURSOR.c.name == _EXPORT_MARK)
        ).scalar_one_or_none()
        since = datetime.fromisoformat(mark) if mark else None
        rows: list[tuple[str, str, bool, datetime]] = []
        for name in sorted(OPT_OUT_NAMES):
            at = profile.c[changed_at_column(name)]
            query = sa.select(profile.c.external_id, profile.c[name], at).where(
                profile.c.external_id.is_not(None), at.is_not(None), at <= stamp
            )
            if since is not None:
                query = query.where(at > since)
            rows += [(e, name, bool(v), t) for e, v, t in conn.execute(query)]
        rows.sort(key=lambda r: (r[3], r[0], r[1]))
        tmp = path.with_suffix(".part")
        with tmp.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            for external_id, name, value, at_time in rows:
                writer.writerow(
                    (external_id, name, "true" if value else "false", at_time.isoformat())
                )
        tmp.replace(path)
        conn.execute(sa.delete(CURSOR).where(CURSOR.c.name == _EXPORT_MARK))
        conn.execute(
            sa.insert(CURSOR).values(name=_EXPORT_MARK, cursor=stamp.isoformat(), updated_at=stamp)
        )
    return path, len(rows)


def import_file(
    engine: sa.Engine, profile: sa.Table, path: Path, *, origin: str = "file"
) -> ImportReport:
    """Apply the opt-out changes of a CSV file; good lines are kept, bad ones reported."""
    report = ImportReport()
    with path.open(newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            report.rejected.append((1, f"missing columns: {', '.join(missing)}"))
            return report
        for row in reader:
            line = reader.line_num
            try:
                external_id, name, value, at = _parse(row)
                with write_transaction(engine) as conn:
                    changed = set_opt_outs(
                        conn, profile, external_id, {name: value}, origin=origin, now=at
                    )
            except RejectError as exc:
                report.rejected.append((line, exc.message))
                continue
            if changed:
                report.applied += 1
            else:
                report.unchanged += 1
    return report


def _parse(row: dict[str, str]) -> tuple[str, str, bool, datetime]:
    external_id = (row.get("external_id") or "").strip()
    if not external_id:
        raise RejectError("external_id is empty", code="BAD_LINE")
    name = (row.get("attribute") or "").strip()
    text = (row.get("opted_out") or "").strip().lower()
    if text not in _TRUE | _FALSE:
        raise RejectError(f"opted_out must be true or false, not {text!r}", code="BAD_LINE")
    try:
        at = datetime.fromisoformat((row.get("changed_at") or "").strip().replace("Z", "+00:00"))
    except ValueError:
        raise RejectError(
            f"changed_at is not an ISO 8601 time: {row.get('changed_at')!r}", code="BAD_LINE"
        ) from None
    if at.tzinfo is None:
        raise RejectError("changed_at needs a time zone (e.g. Z or +00:00)", code="BAD_LINE")
    if name not in OPT_OUT_NAMES:
        raise RejectError(f"'{name}' is not an opt-out attribute", code="BAD_LINE")
    return external_id, name, text in _TRUE, at.astimezone(UTC)
