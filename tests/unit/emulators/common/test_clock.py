"""The movable emulator clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from crmsync.emulators.common.clock import Clock


def test_now_is_aware_utc_real_time() -> None:
    now = Clock().now()
    assert now.tzinfo is UTC
    assert abs((now - datetime.now(UTC)).total_seconds()) < 1


def test_advance_moves_now_and_monotonic_together() -> None:
    clock = Clock()
    before, mono = clock.now(), clock.monotonic()
    clock.advance(3600)
    assert 3599 < (clock.now() - before).total_seconds() < 3601
    assert 3599 < clock.monotonic() - mono < 3601
    clock.advance(-1800)
    assert 1799 < (clock.now() - before).total_seconds() < 1801


def test_set_reaches_the_given_time_and_keeps_flowing() -> None:
    clock = Clock()
    target = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    clock.set(target)
    assert abs((clock.now() - target).total_seconds()) < 0.5
    first = clock.now()
    time.sleep(0.01)
    assert clock.now() > first
    clock.set(target - timedelta(days=1))
    assert clock.now() < target


def test_set_refuses_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Clock().set(datetime(2030, 1, 1))
