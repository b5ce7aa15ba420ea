"""Job runs in the Campaign store: runs, step executions, variables, rejects, the run log,
options, the export journal (with the send time of the call in flight), the deletions seen by
change tracking and the records each automatic index read within its overlap.

Every table name starts with ``crmsync_`` (reserved: no resource can be named so). Step inputs,
records and counts are JSON text (orjson), so SQLite and PostgreSQL hold the same bytes. A step
execution and the executions it enqueues are written in one transaction, which is what makes a
run resumable after a crash at any point.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from crmsync.state.upgrade import ensure_store_schema
from crmsync.store.types import UtcDateTime
from crmsync.store.upserts import dialect_insert

__all__ = [
    "IndexSeen",
    "JobStore",
    "JobTables",
    "RunInfo",
    "ScheduleState",
    "StepRun",
    "dumps",
    "loads",
]

_NAME = sa.String(255)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _now() -> datetime:
    return datetime.now(UTC)


class JobTables:
    def __init__(self) -> None:
        self.metadata = m = sa.MetaData()
        self.runs = sa.Table(
            "crmsync_job_runs",
            m,
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("job", _NAME, nullable=False, index=True),
            sa.Column("source", sa.Text(), nullable=False),
            sa.Column("job_text", sa.Text(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("started_at", UtcDateTime(), nullable=False),
            sa.Column("finished_at", UtcDateTime()),
            sa.Column("error", sa.Text()),
        )
        self.steps = sa.Table(
            "crmsync_job_steps",
            m,
            sa.Column("run_id", sa.String(32), primary_key=True),
            sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("step", _NAME, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("input", sa.Text(), nullable=False),
            sa.Column("counts", sa.Text()),
            sa.Column("started_at", UtcDateTime()),
            sa.Column("finished_at", UtcDateTime()),
            sa.Column("error", sa.Text()),
        )
        self.variables = sa.Table(
            "crmsync_job_variables",
            m,
            sa.Column("run_id", sa.String(32), primary_key=True),
            sa.Column("name", _NAME, primary_key=True),
            sa.Column("value", sa.Text(), nullable=False),
        )
        self.rejects = sa.Table(
            "crmsync_job_rejects",
            m,
            sa.Column("id", _ID, primary_key=True, autoincrement=True),
            sa.Column("run_id", sa.String(32), nullable=False, index=True),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("step", _NAME, nullable=False),
            sa.Column("record", sa.Text(), nullable=False),
            sa.Column("code", _NAME, nullable=False),
            sa.Column("message", sa.Text(), nullable=False),
            sa.Column("created_at", UtcDateTime(), nullable=False),
        )
        self.log = sa.Table(
            "crmsync_job_log",
            m,
            sa.Column("id", _ID, primary_key=True, autoincrement=True),
            sa.Column("run_id", sa.String(32), nullable=False, index=True),
            sa.Column("step", _NAME, nullable=False),
            sa.Column("level", sa.String(16), nullable=False),
            sa.Column("message", sa.Text(), nullable=False),
            sa.Column("at", UtcDateTime(), nullable=False),
        )
        self.options = sa.Table(
            "crmsync_options",
            m,
            sa.Column("name", _NAME, primary_key=True),
            sa.Column("value", sa.Text(), nullable=False),
            sa.Column("updated_at", UtcDateTime(), nullable=False),
        )
        self.journal = sa.Table(
            "crmsync_job_journal",
            m,
            sa.Column("run_id", sa.String(32), primary_key=True),
            sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("idx", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("op", sa.Text(), nullable=False),
            #: pending → sending → ok | rejected
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("crm_id", _NAME),
            sa.Column("code", _NAME),
            sa.Column("message", sa.Text()),
        )
        #: The send time (the CRM's clock) of the call under way of each export step execution:
        #: at most one call is in flight at a time, and its rows are the ``sending`` ones.
        self.sends = sa.Table(
            "crmsync_job_sends",
            m,
            sa.Column("run_id", sa.String(32), primary_key=True),
            sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("sent_at", UtcDateTime(), nullable=False),
        )
        self.deletions = sa.Table(
            "crmsync_job_deletions",
            m,
            sa.Column("tracker", _NAME, primary_key=True),
            sa.Column("record_id", _NAME, primary_key=True),
            sa.Column("deleted_at", UtcDateTime(), nullable=False),
        )
        #: What the last window of an automatic index read within its overlap: the records that
        #: the next window reads again and must not import twice. ``window_end`` is the option
        #: value they belong to: once a user sets the option elsewhere, they no longer apply.
        self.index_seen = sa.Table(
            "crmsync_job_index_seen",
            m,
            sa.Column("option", _NAME, primary_key=True),
            sa.Column("record_id", _NAME, primary_key=True),
            sa.Column("window_end", sa.String(32), nullable=False),
            sa.Column("stamp", sa.Text(), nullable=False),
            sa.Column("digest", sa.String(32), nullable=False),
        )
        #: Per scheduled job: the last slot of its schedule that was run (or first seen, which
        #: runs nothing), under which schedule, and the run it started.
        self.schedules = sa.Table(
            "crmsync_job_schedules",
            m,
            sa.Column("job", _NAME, primary_key=True),
            sa.Column("schedule", sa.Text(), nullable=False),
            sa.Column("last_slot", UtcDateTime(), nullable=False),
            sa.Column("run_id", sa.String(32)),
            sa.Column("updated_at", UtcDateTime(), nullable=False),
        )


@dataclass(frozen=True, slots=True)
class IndexSeen:
    """The records a window of an automatic index read within the overlap of its end.

    ``window_end`` is the option value the window ended at; ``records`` maps each record id to
    its last-modified value as read and a digest of its values.
    """

    window_end: str
    records: Mapping[str, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class StepRun:
    run_id: str
    seq: int
    step: str
    status: str
    rows: list[dict[str, Any]]
    counts: dict[str, int]
    error: str | None


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: str
    job: str
    source: str
    job_text: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """What the scheduler remembers of one job: see :mod:`crmsync.jobs.schedule`."""

    job: str
    schedule: str
    last_slot: datetime
    run_id: str | None


class JobStore:
    """Reads and writes of job bookkeeping; the store's own tables are upgraded on open."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.t = JobTables()
        ensure_store_schema(engine)

    # -- runs -----------------------------------------------------------------------------------

    def create_run(
        self, job: str, source: str, job_text: str, variables: Mapping[str, str], first: str
    ) -> str:
        run_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
            conn.execute(
                self.t.runs.insert().values(
                    id=run_id,
                    job=job,
                    source=source,
                    job_text=job_text,
                    status="running",
                    started_at=_now(),
                )
            )
            self._set_variables(conn, run_id, variables)
            conn.execute(
                self.t.steps.insert().values(
                    run_id=run_id, seq=1, step=first, status="pending", input="[]"
                )
            )
        return run_id

    def run(self, run_id: str) -> RunInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(self.t.runs).where(self.t.runs.c.id == run_id)).first()
        return None if row is None else RunInfo(**row._mapping)

    def runs(self, limit: int = 50, *, job: str | None = None) -> list[RunInfo]:
        """The latest runs (of job ``job`` only, when given), newest first."""
        query = sa.select(self.t.runs).order_by(self.t.runs.c.started_at.desc()).limit(limit)
        if job is not None:
            query = query.where(self.t.runs.c.job == job)
        with self.engine.connect() as conn:
            return [RunInfo(**row._mapping) for row in conn.execute(query)]

    def unfinished_run(self, job: str, job_text: str) -> RunInfo | None:
        """The last run of this very job file when it did not finish (failed or interrupted)."""
        for info in self.runs(limit=20):
            if info.job == job and info.job_text == job_text:
                return info if info.status in ("running", "failed") else None
        return None

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.t.runs.update()
                .where(self.t.runs.c.id == run_id)
                .values(status=status, finished_at=_now(), error=error)
            )
            if status == "succeeded":
                conn.execute(self.t.journal.delete().where(self.t.journal.c.run_id == run_id))
                conn.execute(self.t.sends.delete().where(self.t.sends.c.run_id == run_id))

    def reopen_run(self, run_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.t.runs.update()
                .where(self.t.runs.c.id == run_id)
                .values(status="running", finished_at=None, error=None)
            )

    # -- schedules ------------------------------------------------------------------------------

    def schedule_state(self, job: str) -> ScheduleState | None:
        query = sa.select(self.t.schedules).where(self.t.schedules.c.job == job)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return ScheduleState(row.job, row.schedule, row.last_slot, row.run_id)

    def remember_slot(self, job: str, schedule: str, slot: datetime, run_id: str | None) -> None:
        """Remember ``slot`` of ``schedule`` as job ``job``'s last (and the run it started)."""
        t = self.t.schedules
        values = {"schedule": schedule, "last_slot": slot, "run_id": run_id, "updated_at": _now()}
        with self.engine.begin() as conn:
            # One statement: two servers remembering the same new schedule do not collide.
            insert = dialect_insert(conn.dialect.name, t).values(job=job, **values)
            conn.execute(insert.on_conflict_do_update(index_elements=[t.c.job], set_=values))

    # -- steps ----------------------------------------------------------------------------------

    def _step(self, row: Any) -> StepRun:
        return StepRun(
            run_id=row.run_id,
            seq=row.seq,
            step=row.step,
            status=row.status,
            rows=loads(row.input),
            counts=loads(row.counts) or {},
            error=row.error,
        )

    def pending_steps(self, run_id: str) -> list[StepRun]:
        query = (
            sa.select(self.t.steps)
            .where(
                self.t.steps.c.run_id == run_id, self.t.steps.c.status.in_(("pending", "running"))
            )
            .order_by(self.t.steps.c.seq)
        )
        with self.engine.connect() as conn:
            return [self._step(row) for row in conn.execute(query)]

    def steps(self, run_id: str) -> list[StepRun]:
        query = sa.select(self.t.steps).where(self.t.steps.c.run_id == run_id)
        with self.engine.connect() as conn:
            return [self._step(row) for row in conn.execute(query.order_by(self.t.steps.c.seq))]

    def start_step(self, run_id: str, seq: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.t.steps.update()
                .where(self.t.steps.c.run_id == run_id, self.t.steps.c.seq == seq)
                .values(status="running", started_at=_now(), error=None)
            )

    def finish_step(
        self,
        run_id: str,
        seq: int,
        *,
        status: str,
        counts: Mapping[str, int],
        error: str | None,
        enqueue: Sequence[tuple[str, list[dict[str, Any]]]],
        variables: Mapping[str, str],
        options: Mapping[str, str],
        seen: Mapping[str, IndexSeen] | None = None,
    ) -> None:
        """Close a step execution and enqueue its successors, all in one transaction (with the
        options it moves and, per automatic index, what its window read within the overlap)."""
        with self.engine.begin() as conn:
            conn.execute(
                self.t.steps.update()
                .where(self.t.steps.c.run_id == run_id, self.t.steps.c.seq == seq)
                .values(status=status, counts=dumps(dict(counts)), error=error, finished_at=_now())
            )
            last = conn.execute(
                sa.select(sa.func.max(self.t.steps.c.seq)).where(self.t.steps.c.run_id == run_id)
            ).scalar_one()
            for offset, (step, rows) in enumerate(enqueue, start=1):
                conn.execute(
                    self.t.steps.insert().values(
                        run_id=run_id,
                        seq=last + offset,
                        step=step,
                        status="pending",
                        input=dumps(rows),
                    )
                )
            self._set_variables(conn, run_id, variables)
            for name, value in options.items():
                self._set_option(conn, name, value)
            for name, index in (seen or {}).items():
                self._set_index_seen(conn, name, index)

    def count_executions(self, run_id: str, step: str) -> int:
        query = sa.select(sa.func.count()).where(
            self.t.steps.c.run_id == run_id,
            self.t.steps.c.step == step,
            self.t.steps.c.status != "pending",
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # -- variables, options, log, rejects -------------------------------------------------------

    def _set_variables(self, conn: sa.Connection, run_id: str, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            conn.execute(
                self.t.variables.delete().where(
                    self.t.variables.c.run_id == run_id, self.t.variables.c.name == name
                )
            )
            conn.execute(self.t.variables.insert().values(run_id=run_id, name=name, value=value))

    def variables(self, run_id: str) -> dict[str, str]:
        query = sa.select(self.t.variables.c.name, self.t.variables.c.value).where(
            self.t.variables.c.run_id == run_id
        )
        with self.engine.connect() as conn:
            return {row.name: row.value for row in conn.execute(query.order_by("name"))}

    def _set_option(self, conn: sa.Connection, name: str, value: str) -> None:
        conn.execute(self.t.options.delete().where(self.t.options.c.name == name))
        conn.execute(self.t.options.insert().values(name=name, value=value, updated_at=_now()))

    def set_option(self, name: str, value: str) -> None:
        with self.engine.begin() as conn:
            self._set_option(conn, name, value)

    def option(self, name: str) -> str | None:
        query = sa.select(self.t.options.c.value).where(self.t.options.c.name == name)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def options(self) -> dict[str, str]:
        query = sa.select(self.t.options.c.name, self.t.options.c.value).order_by("name")
        with self.engine.connect() as conn:
            return {row.name: row.value for row in conn.execute(query)}

    def _set_index_seen(self, conn: sa.Connection, option: str, index: IndexSeen) -> None:
        table = self.t.index_seen
        conn.execute(table.delete().where(table.c.option == option))
        rows = [
            {
                "option": option,
                "record_id": record_id,
                "window_end": index.window_end,
                "stamp": stamp,
                "digest": digest,
            }
            for record_id, (stamp, digest) in index.records.items()
        ]
        if rows:
            conn.execute(table.insert(), rows)

    def index_seen(self, option: str, window_end: str) -> dict[str, str]:
        """Record id → digest of what the window ended at ``window_end`` read in its overlap
        (nothing when the option's last window ended elsewhere)."""
        table = self.t.index_seen
        query = sa.select(table.c.record_id, table.c.digest).where(
            table.c.option == option, table.c.window_end == window_end
        )
        with self.engine.connect() as conn:
            return {row.record_id: row.digest for row in conn.execute(query)}

    def log(self, run_id: str, step: str, level: str, message: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.t.log.insert().values(
                    run_id=run_id, step=step, level=level, message=message, at=_now()
                )
            )

    def log_lines(self, run_id: str) -> list[tuple[str, str, str]]:
        query = (
            sa.select(self.t.log.c.step, self.t.log.c.level, self.t.log.c.message)
            .where(self.t.log.c.run_id == run_id)
            .order_by(self.t.log.c.id)
        )
        with self.engine.connect() as conn:
            return [(row.step, row.level, row.message) for row in conn.execute(query)]

    def add_rejects(
        self, run_id: str, seq: int, step: str, rejects: Iterable[Mapping[str, Any]]
    ) -> None:
        rows = [
            {
                "run_id": run_id,
                "seq": seq,
                "step": step,
                "record": dumps(reject.get("record")),
                "code": str(reject.get("errorSymbol") or "UNKNOWN")[:255],
                "message": str(reject.get("errorMessage") or ""),
                "created_at": _now(),
            }
            for reject in rejects
        ]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(
                    self.t.rejects.delete().where(
                        self.t.rejects.c.run_id == run_id, self.t.rejects.c.seq == seq
                    )
                )
                conn.execute(self.t.rejects.insert(), rows)

    def rejects(self, run_id: str) -> list[dict[str, Any]]:
        query = (
            sa.select(self.t.rejects)
            .where(self.t.rejects.c.run_id == run_id)
            .order_by(self.t.rejects.c.id)
        )
        with self.engine.connect() as conn:
            return [
                {
                    "step": row.step,
                    "errorSymbol": row.code,
                    "errorMessage": row.message,
                    "record": loads(row.record),
                }
                for row in conn.execute(query)
            ]
