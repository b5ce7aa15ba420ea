"""The daily opt-out file exchange by an injected clock: once a day, remembered in the store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.config.models import Config, OptOutFileExchange
from crmsync.optout.changes import set_opt_outs
from crmsync.optout.schedule import DailyExchange
from crmsync.optout.tables import OUTBOX
from crmsync.state import ensure_store_schema
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile

PROFILE = build_metadata(definitions_with_profile(())).tables["profile"]
DAY1 = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    PROFILE.metadata.create_all(engine)
    ensure_store_schema(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(PROFILE),
            [{"external_id": f"C-{n}", "created_at": DAY1, "modified_at": DAY1} for n in (1, 2)],
        )
        set_opt_outs(conn, PROFILE, "C-1", {"optout_email": True}, now=DAY1 - timedelta(hours=5))
    yield engine
    engine.dispose()


def settings(folder: Path, **extra: object) -> OptOutFileExchange:
    return OptOutFileExchange.model_validate({"folder": folder, "daily_at": "02:00"} | extra)


def started(engine: sa.Engine, exchange_settings: OptOutFileExchange) -> DailyExchange:
    """An exchange whose process started at 01:00 on day 1, before the daily time."""
    exchange = DailyExchange(engine, PROFILE, exchange_settings)
    assert exchange.due(DAY1 + timedelta(hours=1)) is None
    return exchange


def exports(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("optouts-*.csv"))


def test_runs_once_a_day_at_its_time_and_a_restart_does_not_repeat_it(
    engine: sa.Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    exchange = started(engine, settings(folder))
    first = exchange.run_if_due(DAY1 + timedelta(hours=2))
    assert first is not None
    assert first.slot == DAY1 + timedelta(hours=2)
    assert first.exported_rows == 1
    assert exports(folder) == ["optouts-20260501T020000Z.csv"]

    assert exchange.run_if_due(DAY1 + timedelta(hours=3)) is None
    restarted = DailyExchange(engine, PROFILE, settings(folder))
    assert restarted.last_served() == DAY1 + timedelta(hours=2)
    assert restarted.run_if_due(DAY1 + timedelta(hours=23, minutes=59)) is None
    assert restarted.run_if_due(DAY1 + timedelta(days=1, hours=1, minutes=59)) is None

    second = restarted.run_if_due(DAY1 + timedelta(days=1, hours=2))
    assert second is not None
    assert second.exported_rows == 0  # nothing changed since the first export
    assert len(exports(folder)) == 2


def test_a_process_down_at_the_time_makes_up_the_day_once(
    engine: sa.Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    exchange = started(engine, settings(folder))
    assert exchange.run_if_due(DAY1 + timedelta(hours=2)) is not None
    late = DAY1 + timedelta(days=4, hours=10)
    made_up = exchange.run_if_due(late)
    assert made_up is not None
    assert made_up.slot == DAY1 + timedelta(days=4, hours=2)
    assert exchange.run_if_due(late + timedelta(minutes=1)) is None
    assert len(exports(folder)) == 2


def test_a_store_that_never_exchanged_waits_for_the_next_daily_time(
    engine: sa.Engine, tmp_path: Path
) -> None:
    exchange = DailyExchange(engine, PROFILE, settings(tmp_path / "drop"))
    assert exchange.due(DAY1 + timedelta(hours=15)) is None
    assert exchange.due(DAY1 + timedelta(hours=23)) is None
    assert exchange.due(DAY1 + timedelta(days=1, hours=2)) == DAY1 + timedelta(days=1, hours=2)


def test_inbox_files_are_imported_then_moved_to_done(engine: sa.Engine, tmp_path: Path) -> None:
    folder, inbox = tmp_path / "drop", tmp_path / "incoming"
    inbox.mkdir()
    (inbox / "a.csv").write_text(
        "external_id,attribute,opted_out,changed_at\n"
        "C-2,optout_sms,true,2026-04-30T10:00:00Z\n"
        "C-9,optout_sms,true,2026-04-30T10:00:00Z\n"
    )
    (inbox / "b.csv").write_bytes(b"\xff\xfe not text")
    (inbox / "notes.txt").write_text("not a drop file")
    exchange = started(engine, settings(folder, inbox=str(inbox)))

    run = exchange.run_if_due(DAY1 + timedelta(hours=2, seconds=5))
    assert run is not None
    assert run.imported == {"a.csv": (1, 0, 1), "b.csv": (0, 0, 1)}
    assert sorted(p.name for p in inbox.iterdir()) == ["done", "notes.txt"]
    done = inbox / "done"
    assert sorted(p.name for p in done.iterdir()) == [
        "a.csv",
        "a.csv.rejected.txt",
        "b.csv",
        "b.csv.rejected.txt",
    ]
    assert "a.csv:3: no profile has external_id 'C-9'" in (done / "a.csv.rejected.txt").read_text()
    with engine.connect() as conn:
        rows = conn.execute(sa.select(OUTBOX.c.external_id, OUTBOX.c.attribute, OUTBOX.c.origin))
        assert ("C-2", "optout_sms", "file") in rows.all()
    # The export ran first: the imported change is not echoed back in it.
    assert run.exported_rows == 1

    (inbox / "a.csv").write_text("external_id,attribute,opted_out,changed_at\n")
    again = exchange.run_if_due(DAY1 + timedelta(days=1, hours=2))
    assert again is not None
    assert (done / "a-2.csv").exists()


def test_export_or_import_can_be_switched_off(engine: sa.Engine, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    (folder / "inbox").mkdir(parents=True)
    (folder / "inbox" / "a.csv").write_text("external_id,attribute,opted_out,changed_at\n")
    exchange = started(engine, settings(folder, export=False, **{"import": False}))
    assert exchange.run_if_due(DAY1 + timedelta(hours=2)) is not None
    assert exports(folder) == []
    assert (folder / "inbox" / "a.csv").exists()


@pytest.mark.parametrize("value", [120, "25:00", "02:00pm", ""])
def test_daily_time_must_be_quoted_hours_and_minutes(value: object) -> None:
    with pytest.raises(ValueError, match=r'"HH:MM" in quotes'):
        Config.model_validate(
            {"optinout": {"file_exchange": {"folder": "/tmp/x", "daily_at": value}}}
        )


def test_daily_time_round_trips_and_the_inbox_defaults_under_the_folder() -> None:
    exchange = settings(Path("/srv/drop"))
    assert exchange.model_dump(mode="json")["daily_at"] == "02:00"
    assert exchange.inbox_folder == Path("/srv/drop/inbox")
    assert OptOutFileExchange.model_validate({"folder": "/x"}).daily_at is None
