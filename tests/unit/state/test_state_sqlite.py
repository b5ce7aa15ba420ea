"""The workflows' state on SQLite files made by the store's engine factory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from state_behaviour import StateBehaviour

from crmsync.store.engine import create_engine_for


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


class TestStateOnSQLite(StateBehaviour):
    pass


def test_a_refused_replay_is_a_configuration_error_with_context() -> None:
    from crmsync.errors import ConfigurationError
    from crmsync.state.models import ReplayRefused

    error = ReplayRefused("no", code="REPLAY_TABLE_LIMIT", mapping="contacts", value=3, limit=2)
    assert isinstance(error, ConfigurationError)
    assert error.context() == {"code": "REPLAY_TABLE_LIMIT", "table": "contacts"}
    assert (error.value, error.limit) == (3, 2)
