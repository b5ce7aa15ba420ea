"""Unsubscribe events: read from files, recorded once, opting their profile out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.errors import ConfigurationError
from crmsync.events import Event, Unsubscribe, record_events
from crmsync.events.files import parse_events
from crmsync.events.tables import UNSUBSCRIBES
from crmsync.optout.changes import set_opt_outs
from crmsync.optout.tables import OUTBOX
from crmsync.state import ensure_store_schema
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile

CREATED = datetime(2026, 1, 1, tzinfo=UTC)
AT = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 5, 2, 12, 0, tzinfo=UTC)
PROFILE = build_metadata(definitions_with_profile(())).tables["profile"]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    PROFILE.metadata.create_all(engine)
    ensure_store_schema(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(PROFILE),
            [
                {"id": 1, "external_id": "C-1", "created_at": CREATED, "modified_at": CREATED},
                {"id": 2, "external_id": None, "created_at": CREATED, "modified_at": CREATED},
            ],
        )
    yield engine
    engine.dispose()


def unsubscribe(id_: str, profile_id: int = 1, **extra: Any) -> Unsubscribe:
    values = {"type": "unsubscribe", "id": id_, "profile_id": profile_id, "occurred_at": AT}
    return Unsubscribe.model_validate(values | extra)


def profile(engine: sa.Engine, profile_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(sa.select(PROFILE).where(PROFILE.c.id == profile_id)).one()
    return dict(row._mapping)


def outbox(engine: sa.Engine) -> list[tuple[str, str, bool, datetime, str | None]]:
    columns = (OUTBOX.c.external_id, OUTBOX.c.attribute, OUTBOX.c.opted_out, OUTBOX.c.changed_at)
    with engine.connect() as conn:
        query = sa.select(*columns, OUTBOX.c.origin).order_by(OUTBOX.c.id)
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]


def outcomes(engine: sa.Engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        query = sa.select(UNSUBSCRIBES.c.event_id, UNSUBSCRIBES.c.outcome, UNSUBSCRIBES.c.changed)
        return {e: (o, c) for e, o, c in conn.execute(query)}


def test_unsubscribe_opts_out_email_by_default_with_the_recording_time(engine: sa.Engine) -> None:
    result = record_events(engine, [unsubscribe("u-1")], now=NOW)
    assert (result.added, result.duplicates, result.opted_out) == (1, 0, 1)
    held = profile(engine, 1)
    assert held["optout_email"] is True
    assert held["optout_email_changed_at"] == NOW
    assert held["optout_sms"] is False
    assert outbox(engine) == [("C-1", "optout_email", True, NOW, "unsubscribe")]
    assert outcomes(engine) == {"u-1": ("opted_out", "optout_email")}


def test_several_attributes_and_a_profile_without_crm_id(engine: sa.Engine) -> None:
    item = unsubscribe("u-2", profile_id=2, attributes=["optout_sms", "optout_phone"])
    result = record_events(engine, [item], now=NOW)
    assert result.opted_out == 1
    held = profile(engine, 2)
    assert (held["optout_sms"], held["optout_phone"], held["optout_email"]) == (True, True, False)
    assert held["optout_sms_changed_at"] == NOW
    assert outbox(engine) == []  # no CRM record to send it to
    assert outcomes(engine) == {"u-2": ("opted_out", "optout_phone,optout_sms")}


def test_recorded_once_even_after_the_person_opted_in_again(engine: sa.Engine) -> None:
    record_events(engine, [unsubscribe("u-1")], now=NOW)
    with engine.begin() as conn:
        set_opt_outs(conn, PROFILE, "C-1", {"optout_email": False}, now=NOW + timedelta(hours=1))
    again = record_events(engine, [unsubscribe("u-1")], now=NOW + timedelta(hours=2))
    assert (again.added, again.duplicates, again.opted_out) == (0, 1, 0)
    assert profile(engine, 1)["optout_email"] is False
    assert len(outbox(engine)) == 2


def test_an_opt_in_newer_than_the_unsubscribe_stands(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        set_opt_outs(conn, PROFILE, "C-1", {"optout_email": True}, now=AT - timedelta(days=2))
        set_opt_outs(conn, PROFILE, "C-1", {"optout_email": False}, now=AT + timedelta(minutes=1))
    result = record_events(engine, [unsubscribe("u-late")], now=NOW)
    assert (result.added, result.opted_out) == (1, 0)
    assert profile(engine, 1)["optout_email"] is False
    assert outcomes(engine) == {"u-late": ("superseded", "")}


def test_an_opt_in_older_than_the_unsubscribe_is_overridden(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        set_opt_outs(conn, PROFILE, "C-1", {"optout_email": True}, now=AT - timedelta(days=2))
        set_opt_outs(conn, PROFILE, "C-1", {"optout_email": False}, now=AT - timedelta(days=1))
    assert record_events(engine, [unsubscribe("u-3")], now=NOW).opted_out == 1
    assert profile(engine, 1)["optout_email"] is True


def test_already_opted_out_and_unknown_profile(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        set_opt_outs(conn, PROFILE, "C-1", {"optout_email": True}, now=CREATED)
    result = record_events(engine, [unsubscribe("u-4"), unsubscribe("u-5", profile_id=99)], now=NOW)
    assert (result.added, result.opted_out) == (2, 0)
    assert outcomes(engine) == {"u-4": ("unchanged", ""), "u-5": ("no_profile", "")}
    assert profile(engine, 1)["optout_email_changed_at"] == CREATED


def test_mixed_with_other_events_in_one_call(engine: sa.Engine) -> None:
    opened = Event.model_validate(
        {"type": "open", "id": "u-1", "profile_id": 1, "delivery_id": "D", "occurred_at": AT}
    )
    result = record_events(engine, [opened, unsubscribe("u-1")], now=NOW)
    assert (result.added, result.duplicates, result.opted_out) == (2, 0, 1)


def test_without_a_profile_table_nothing_is_recorded(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'bare.db'}")
    try:
        with pytest.raises(ConfigurationError, match="no profile table"):
            record_events(engine, [unsubscribe("u-1")], now=NOW)
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(UNSUBSCRIBES)).scalar() == 0
    finally:
        engine.dispose()


def test_files_hold_unsubscribes_and_report_bad_ones_by_line() -> None:
    csv_text = (
        "type,id,profile_id,occurred_at,attributes,delivery_id\n"
        "unsubscribe,u-1,1,2026-05-01T09:00:00Z,optout_email;optout_sms,D-7\n"
        "unsubscribe,u-2,1,2026-05-01T09:00:00Z,,\n"
        "unsubscribe,u-3,1,2026-05-01T09:00:00Z,optout_pigeon,\n"
        "unsubscribe,u-4,1,2026-05-01T09:00:00,,\n"
        "open,o-1,1,2026-05-01T09:00:00Z,optout_email,D-7\n"
    )
    result = parse_events(csv_text.encode(), "csv")
    first, second = result.events
    assert isinstance(first, Unsubscribe)
    assert isinstance(second, Unsubscribe)
    assert [a.value for a in first.attributes] == ["optout_email", "optout_sms"]
    assert first.delivery_id == "D-7"
    assert [a.value for a in second.attributes] == ["optout_email"]
    lines = {problem.line: problem.message for problem in result.problems}
    assert sorted(lines) == [4, 5, 6]
    assert lines[4].startswith("attributes.0:")
    assert "optout_email" in lines[4]
    assert "time zone" in lines[5]
    assert "attributes" in lines[6]


def test_json_lines_take_a_list_and_refuse_an_empty_one() -> None:
    data = (
        b'{"type": "unsubscribe", "id": "u-1", "profile_id": 3, "occurred_at": '
        b'"2026-05-01T09:00:00+02:00", "attributes": ["optout_fax", "optout_fax"]}\n'
        b'{"type": "unsubscribe", "id": "u-2", "profile_id": 3, "occurred_at": '
        b'"2026-05-01T09:00:00Z", "attributes": []}\n'
        b'{"type": "unsubscribe", "id": "u-3", "occurred_at": "2026-05-01T09:00:00Z"}\n'
    )
    result = parse_events(data, "jsonl")
    (only,) = result.events
    assert isinstance(only, Unsubscribe)
    assert [a.value for a in only.attributes] == ["optout_fax"]
    assert only.occurred_at == datetime(2026, 5, 1, 7, 0, tzinfo=UTC)
    lines = {problem.line: problem.message for problem in result.problems}
    assert "at least one" in lines[2]
    assert "profile_id" in lines[3]
