"""Job schedules: slots in the job's time zone (daylight saving included), when a job is due
(at most one catch-up run), and the errors of a bad schedule, at their path and line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmsync.jobs import check_job_text, load_job_text
from crmsync.jobs.models import JobFile
from crmsync.jobs.schedule import (
    Decision,
    decide,
    next_run,
    next_slot,
    previous_slot,
    schedule_key,
)
from crmsync.jobs.store import ScheduleState

STEPS = "steps:\n  pause: {kind: wait, seconds: 0}\n"


def _job(schedule: str, timezone: str = "UTC") -> JobFile:
    return load_job_text(f"name: nightly\ntimezone: {timezone}\nschedule: {schedule}\n{STEPS}")


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def _state(job: JobFile, last_slot: datetime, key: str | None = None) -> ScheduleState:
    return ScheduleState(job.name, key or schedule_key(job), last_slot, None)


def test_a_cron_expression_is_read_in_the_jobs_time_zone() -> None:
    paris = _job("{cron: '30 2 * * *'}", "Europe/Paris")
    assert next_slot(paris, _utc(2026, 1, 10, 12)) == _utc(2026, 1, 11, 1, 30)  # CET, UTC+1
    assert next_slot(paris, _utc(2026, 7, 10, 12)) == _utc(2026, 7, 11, 0, 30)  # CEST, UTC+2
    # The schedule's own time zone wins over the job's.
    ny = _job("{cron: '30 2 * * *', timezone: America/New_York}", "Europe/Paris")
    assert next_slot(ny, _utc(2026, 1, 10, 12)) == _utc(2026, 1, 11, 7, 30)
    assert schedule_key(ny) == "30 2 * * * @ America/New_York"
    assert schedule_key(paris) == "30 2 * * * @ Europe/Paris"


def test_daylight_saving_changes() -> None:
    job = _job("{cron: '30 2 * * *'}", "Europe/Paris")
    # 29 March 2026: 02:00 → 03:00 in Paris; 02:30 does not exist: the run is at 03:00 CEST.
    spring = next_slot(job, _utc(2026, 3, 28, 12))
    assert spring == _utc(2026, 3, 29, 1, 0)
    assert next_slot(job, spring) == _utc(2026, 3, 30, 0, 30)
    # 25 October 2026: 03:00 → 02:00; 02:30 happens twice, in CEST and then in CET.
    first = next_slot(job, _utc(2026, 10, 24, 12))
    assert first == _utc(2026, 10, 25, 0, 30)
    assert next_slot(job, first) == _utc(2026, 10, 25, 1, 30)


def test_seconds_as_a_sixth_field_and_the_previous_slot() -> None:
    job = _job("{cron: '* * * * * */5'}")
    assert next_slot(job, _utc(2026, 1, 1, 0, 0, 7)) == _utc(2026, 1, 1, 0, 0, 10)
    # A slot itself is its own previous slot; a moment after it, too.
    assert previous_slot(job, _utc(2026, 1, 1, 0, 0, 10)) == _utc(2026, 1, 1, 0, 0, 10)
    assert previous_slot(job, _utc(2026, 1, 1, 0, 0, 14)) == _utc(2026, 1, 1, 0, 0, 10)


def test_a_new_schedule_runs_nothing_until_its_next_slot() -> None:
    job = _job("{cron: '0 3 * * *'}")
    now = _utc(2026, 5, 2, 10)
    assert decide(job, now, None) == Decision(_utc(2026, 5, 2, 3), run=False)
    assert decide(job, now, _state(job, _utc(2026, 5, 2, 3))) is None
    assert decide(job, _utc(2026, 5, 3, 3), _state(job, _utc(2026, 5, 2, 3))) == Decision(
        _utc(2026, 5, 3, 3), run=True
    )


def test_slots_missed_while_stopped_make_one_catch_up_run() -> None:
    job = _job("{cron: '0 * * * *'}")
    last = _utc(2026, 5, 1, 8)
    # Stopped for two days: 48 slots were missed; one run, for the latest of them.
    now = last + timedelta(days=2, minutes=20)
    decision = decide(job, now, _state(job, last))
    assert decision == Decision(_utc(2026, 5, 3, 8), run=True)
    # Until it runs, the next run is that slot, already passed (a run under way makes it wait).
    assert next_run(job, now, _state(job, last)) == decision.slot
    # Once it is remembered, nothing more is due until the next slot.
    assert decide(job, now + timedelta(minutes=30), _state(job, decision.slot)) is None
    assert decide(job, _utc(2026, 5, 3, 9), _state(job, decision.slot)) == Decision(
        _utc(2026, 5, 3, 9), run=True
    )


def test_a_changed_schedule_starts_afresh() -> None:
    job = _job("{cron: '*/5 * * * *'}")
    # Remembered under the daily schedule it had: the new one runs nothing for the past.
    daily = _state(job, _utc(2026, 5, 1, 3), "0 3 * * * @ UTC")
    decision = decide(job, _utc(2026, 5, 3, 9, 7), daily)
    assert decision == Decision(_utc(2026, 5, 3, 9, 5), run=False)


@pytest.mark.parametrize(
    ("schedule", "path", "message"),
    [
        ("{cron: '61 * * * *'}", "schedule.cron", "not a cron expression: '61 * * * *'"),
        ("{cron: 'every day'}", "schedule.cron", "not a cron expression: 'every day'"),
        ("{cron: '0 0 31 2 *'}", "schedule.cron", "'0 0 31 2 *' names no date that exists"),
        ("{cron: '0 3 * * *', timezone: Mars/Olympus}", "schedule.timezone", "Mars/Olympus"),
        ("{cron: '0 3 * * *', tz: UTC}", "schedule.tz", "unknown key 'tz'"),
        ("'0 3 * * *'", "schedule", "valid dictionary"),
    ],
)
def test_a_bad_schedule_is_refused_at_its_path(schedule: str, path: str, message: str) -> None:
    text = f"name: nightly\nschedule: {schedule}\n{STEPS}"
    job, issues = check_job_text(text, source="jobs/nightly.yaml")
    assert job is None
    errors = [issue for issue in issues if issue.is_error]
    assert [issue.path for issue in errors] == [path]
    assert message in errors[0].message
    assert errors[0].line == 2
    assert "jobs/nightly.yaml" in str(errors[0])


def test_a_job_without_schedule_has_none() -> None:
    job = load_job_text(f"name: once\n{STEPS}")
    assert job.schedule is None
    assert next_run(job, _utc(2026, 5, 3, 9), None) is None
