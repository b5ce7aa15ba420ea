"""Fixtures both connectors' unit tests share (each CRM's fake org lives with its tests)."""

from __future__ import annotations

import pytest
from connector_fakes import FakeTime


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
