"""When a scheduled job is due: its cron expression read in its time zone (by ``croniter``).

A schedule has *slots*, the times its cron expression names in its time zone. The scheduler
remembers, per job, the last slot it ran (or the first it saw); a job is due when the latest
slot at or before now is later than that. Whatever the number of slots missed while no server
ran, that is one run: at most one catch-up run when a server starts, then the schedule.
Daylight saving time follows croniter: a local time the spring change skips runs at the first
time after it (02:30 → 03:00), and one the autumn change repeats runs at both of its instants.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from crmsync.config.errors import ConfigIssue, Loc
from crmsync.jobs.models import JobFile, Schedule
from crmsync.jobs.store import ScheduleState

__all__ = [
    "Decision",
    "decide",
    "next_run",
    "next_slot",
    "previous_slot",
    "schedule_issues",
    "schedule_key",
    "zone_issues",
]


_INSTANT = timedelta(microseconds=1)


def _zone(schedule: Schedule, job: JobFile) -> ZoneInfo:
    return ZoneInfo(schedule.timezone or job.timezone)


def schedule_issues(job: JobFile) -> Iterator[ConfigIssue]:
    """The problems of ``job``'s schedule: a cron expression croniter refuses, an unknown time
    zone."""
    if job.schedule is None:
        return
    loc: Loc = ("schedule",)
    if not croniter.is_valid(job.schedule.cron):
        yield ConfigIssue(
            (*loc, "cron"),
            f"not a cron expression: '{job.schedule.cron}' (five fields: minute hour "
            "day-of-month month day-of-week, and an optional sixth for seconds)",
        )
    elif not _ever(job.schedule.cron):
        yield ConfigIssue((*loc, "cron"), f"'{job.schedule.cron}' names no date that exists")
    if job.schedule.timezone is not None:
        yield from zone_issues(job.schedule.timezone, (*loc, "timezone"))


def _ever(cron: str) -> bool:
    """Whether ``cron`` has a time at all (``0 0 31 2 *``, 31 February, has none)."""
    try:
        croniter(cron, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        return False
    return True


def zone_issues(name: str, loc: Loc) -> Iterator[ConfigIssue]:
    """The problem of time zone ``name`` at ``loc``: one the system does not know."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        yield ConfigIssue(loc, f"unknown time zone '{name}'")


def schedule_key(job: JobFile) -> str:
    """The schedule as remembered with its last slot: a changed schedule starts afresh."""
    assert job.schedule is not None
    return f"{job.schedule.cron} @ {job.schedule.timezone or job.timezone}"


def _iter(job: JobFile, at: datetime) -> croniter:
    # A valid job's expression (see schedule_issues) has times: croniter finds the next one.
    assert job.schedule is not None
    return croniter(job.schedule.cron, at.astimezone(_zone(job.schedule, job)))


def next_slot(job: JobFile, after: datetime) -> datetime:
    """The first slot of ``job``'s schedule strictly after ``after`` (in UTC)."""
    return _iter(job, after).get_next(datetime).astimezone(UTC)


def previous_slot(job: JobFile, at: datetime) -> datetime:
    """The last slot of ``job``'s schedule at or before ``at`` (in UTC)."""
    if next_slot(job, at - _INSTANT) == at:
        return at.astimezone(UTC)
    return _iter(job, at).get_prev(datetime).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the scheduler does with a job now: run for ``slot`` (``run``), or only remember
    ``slot`` as seen (a new or changed schedule: nothing was missed)."""

    slot: datetime
    run: bool


def decide(job: JobFile, now: datetime, state: ScheduleState | None) -> Decision | None:
    """``None`` when nothing is to be done; else the slot to remember and whether to run it.

    ``state``: what was remembered for the job (``None``: it was never scheduled).
    """
    slot = previous_slot(job, now)
    if state is None or state.schedule != schedule_key(job):
        return Decision(slot, run=False)
    if slot > state.last_slot:
        return Decision(slot, run=True)
    return None


def next_run(job: JobFile, now: datetime, state: ScheduleState | None) -> datetime | None:
    """When the scheduled ``job`` runs next (``None``: it has no schedule); a slot already
    passed when it is due now (a run under way makes it wait)."""
    if job.schedule is None:
        return None
    decision = decide(job, now, state)
    return decision.slot if decision and decision.run else next_slot(job, now)
