"""The scheduled daily opt-out file exchange (``optinout.file_exchange.daily_at``).

Once a day at the configured UTC time the running optinout workflow exports the opt-outs changed
since the last export (:func:`~crmsync.optout.files.export_changes`) and imports every CSV file
dropped into the inbox folder (:func:`~crmsync.optout.files.import_file`), moving each processed
file to the inbox's ``done/`` folder, with ``<file>.rejected.txt`` beside it when lines were
refused. Export first: the files imported in a run are not echoed back in its own export.

The last exchange served is remembered in the store (``crmsync_optout_cursor``, under
:data:`MARK`), as the scheduled time it stood for. An exchange is due when the most recent
scheduled time has passed and was not served yet, so a restart does not exchange twice in a day,
and a process that was down at the scheduled time makes up that day's exchange when it starts
(once, however many days it missed). A store that never exchanged waits for the first daily time
after the start. The mark is saved after the exchange: a crash in the middle
repeats it, which is harmless (the export starts where the last finished one ended; a file
imported again changes nothing that its first import changed).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from crmsync.config.models import OptOutFileExchange
from crmsync.optout.files import export_changes, import_file
from crmsync.optout.tables import CURSOR

__all__ = ["MARK", "DailyExchange", "ExchangeRun"]

logger = logging.getLogger(__name__)

#: The cursor-table row holding the scheduled time of the last exchange served.
MARK = "file_exchange_daily"


@dataclass(slots=True)
class ExchangeRun:
    """What one exchange did: the scheduled time it served, the export, the imported files."""

    slot: datetime
    exported: Path | None = None
    exported_rows: int = 0
    #: Per imported file (its name): lines applied, unchanged, refused.
    imported: dict[str, tuple[int, int, int]] = field(default_factory=dict)


class DailyExchange:
    """Runs the file exchange when its daily time has come (blocking: call from a thread)."""

    def __init__(self, engine: sa.Engine, profile: sa.Table, settings: OptOutFileExchange):
        if settings.daily_at is None:
            raise ValueError("the file exchange has no daily time")
        self.engine = engine
        self.profile = profile
        self.settings = settings
        self.at = settings.daily_at
        self._last: datetime | None = None
        self._loaded = False
        self._started: datetime | None = None

    def due(self, now: datetime) -> datetime | None:
        """The scheduled time to serve now, or ``None`` when the last one was served."""
        now = now.astimezone(UTC)
        slot = datetime.combine(now.date(), self.at.replace(tzinfo=None), tzinfo=UTC)
        if slot > now:
            slot -= timedelta(days=1)
        last = self.last_served()
        if last is None:
            # Never exchanged: the first exchange is at the first daily time after the start.
            self._started = self._started or now
            return slot if slot > self._started else None
        return None if last >= slot else slot

    def last_served(self) -> datetime | None:
        """The scheduled time of the last exchange served (read from the store once)."""
        if not self._loaded:
            with self.engine.connect() as conn:
                value = conn.execute(
                    sa.select(CURSOR.c.cursor).where(CURSOR.c.name == MARK)
                ).scalar_one_or_none()
            self._last = datetime.fromisoformat(value) if value else None
            self._loaded = True
        return self._last

    def run_if_due(self, now: datetime) -> ExchangeRun | None:
        """Exchange the files if the daily time has come; ``None`` when it was not due."""
        slot = self.due(now)
        if slot is None:
            return None
        run = ExchangeRun(slot)
        if self.settings.export:
            run.exported, run.exported_rows = export_changes(
                self.engine, self.profile, self.settings.folder, now=now
            )
        if self.settings.import_:
            for path in self._inbox_files():
                run.imported[path.name] = self._import(path)
        self._save(slot, now)
        logger.info(
            "optinout: daily file exchange of %s: %d row(s) exported, %d file(s) imported",
            slot.isoformat(),
            run.exported_rows,
            len(run.imported),
        )
        return run

    def _inbox_files(self) -> list[Path]:
        inbox = self.settings.inbox_folder
        if not inbox.is_dir():
            return []
        return sorted(p for p in inbox.iterdir() if p.is_file() and p.suffix.lower() == ".csv")

    def _import(self, path: Path) -> tuple[int, int, int]:
        done = path.parent / "done"
        done.mkdir(exist_ok=True)
        try:
            report = import_file(self.engine, self.profile, path)
            rejected = report.rejected
            counts = (report.applied, report.unchanged, len(rejected))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            rejected = [(0, f"the file could not be read: {exc}")]
            counts = (0, 0, 1)
        target = _free_name(done / path.name)
        if rejected:
            lines = "".join(f"{path.name}:{line}: {why}\n" for line, why in rejected)
            target.with_name(target.name + ".rejected.txt").write_text(lines, encoding="utf-8")
            logger.warning("optinout: %s: %d line(s) refused", path.name, len(rejected))
        path.replace(target)
        return counts

    def _save(self, slot: datetime, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(CURSOR).where(CURSOR.c.name == MARK))
            conn.execute(
                sa.insert(CURSOR).values(name=MARK, cursor=slot.isoformat(), updated_at=now)
            )
        self._last = slot


def _free_name(path: Path) -> Path:
    """``path``, or ``name-2.csv``, ``name-3.csv``… when that name was processed before."""
    number = 1
    candidate = path
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate
