"""The CRM's clock from the ``Date`` header of its answers."""

from __future__ import annotations

from datetime import UTC, datetime

from connector_fakes import FakeTime

from crmsync.connectors.server_time import ServerTime


def test_unknown_until_an_answer_carries_a_date() -> None:
    server = ServerTime(FakeTime().clock)
    assert server.now() is None
    server.observe({})
    server.observe({"date": "not a date"})
    assert server.now() is None


def test_the_date_plus_the_time_elapsed_since() -> None:
    time = FakeTime()
    server = ServerTime(time.clock)
    server.observe({"date": "Mon, 07 Dec 2026 05:00:00 GMT"})
    assert server.now() == datetime(2026, 12, 7, 5, 0, 0, tzinfo=UTC)
    time.now += 2.5
    assert server.now() == datetime(2026, 12, 7, 5, 0, 2, 500000, tzinfo=UTC)
    # A later answer wins, even when the CRM's clock went back.
    server.observe({"date": "Mon, 07 Dec 2026 04:59:00 GMT"})
    assert server.now() == datetime(2026, 12, 7, 4, 59, 0, tzinfo=UTC)
    server.observe({"date": "garbage"})
    assert server.now() == datetime(2026, 12, 7, 4, 59, 0, tzinfo=UTC)
