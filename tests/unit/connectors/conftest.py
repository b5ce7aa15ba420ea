"""Fixtures both connectors' unit tests share (each CRM's fake org lives with its tests)."""

from __future__ import annotations

import pytest
from connector_fakes import FakeTime


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture(autouse=True)
def client_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """The fake orgs' client secret, in the environment variable their settings name."""
    secret = "s3cret-Value-123"
    monkeypatch.setenv("CRMSYNC_TEST_SECRET", secret)
    return secret
