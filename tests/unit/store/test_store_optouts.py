"""Opt-out change times move with their values and only with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from crmsync.store import build_metadata, definitions_with_profile
from crmsync.store.bulk import driver_values
from crmsync.store.optouts import stamp_opt_outs
from crmsync.store.writes import upsert_batch

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _profile() -> tuple[sa.Engine, sa.Table]:
    engine = sa.create_engine("sqlite://")
    metadata = build_metadata(definitions_with_profile(()))
    metadata.create_all(engine)
    return engine, metadata.tables["profile"]


def _write(
    engine: sa.Engine, table: sa.Table, rows: list[dict[str, object]], now: datetime
) -> None:
    with engine.begin() as conn:
        stamped = stamp_opt_outs(conn, table, "external_id", rows, now=now)
        upsert_batch(conn, table, "external_id", stamped, version_field=None)


def _times(engine: sa.Engine, table: sa.Table) -> dict[str, tuple[bool, datetime | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.external_id, table.c.optout_email, table.c.optout_email_changed_at)
        )
        return {key: (value, at) for key, value, at in rows}


def test_new_rows_get_the_time_and_repeats_keep_it() -> None:
    engine, table = _profile()
    _write(engine, table, [{"external_id": "a", "optout_email": False}], T0)
    _write(engine, table, [{"external_id": "a", "optout_email": False}], T0 + timedelta(hours=1))
    assert _times(engine, table) == {"a": (False, T0)}


def test_a_changed_value_moves_the_time() -> None:
    engine, table = _profile()
    later = T0 + timedelta(minutes=5)
    _write(engine, table, [{"external_id": "a", "optout_email": False}], T0)
    _write(engine, table, [{"external_id": "a", "optout_email": True}], later)
    assert _times(engine, table) == {"a": (True, later)}


def test_rows_without_opt_outs_and_given_times_are_left_alone() -> None:
    engine, table = _profile()
    with engine.connect() as conn:
        assert stamp_opt_outs(conn, table, "external_id", [{"external_id": "a"}]) == [
            {"external_id": "a"}
        ]
        given = {"external_id": "a", "optout_sms": True, "optout_sms_changed_at": T0}
        assert stamp_opt_outs(conn, table, "external_id", [given], now=T0 + timedelta(1)) == [given]


def test_rows_in_the_drivers_form_get_times_in_that_form() -> None:
    engine, table = _profile()
    to_driver = driver_values(engine.dialect, table, ["optout_email_changed_at"])
    later = T0 + timedelta(minutes=5)
    # SQLite's driver takes booleans as integers and times as text.
    for value, now, stamp in ((0, T0, T0), (0, later, T0), (1, later, later)):
        row = {"external_id": "a", "optout_email": value}
        with engine.begin() as conn:
            stamped = stamp_opt_outs(conn, table, "external_id", [row], now=now, driver_form=True)
            changed_at = stamped[0]["optout_email_changed_at"]
            assert (changed_at,) == to_driver({"optout_email_changed_at": stamp})
            upsert_batch(conn, table, "external_id", stamped, version_field=None, driver_form=True)
    assert _times(engine, table) == {"a": (True, later)}
