"""The ``console`` fixture: the API's test application with the console, a client per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from console_support import Api, make_api


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Api]:
    made = make_api(tmp_path)
    async with made.client:
        yield made
    await made.supervisor.close()
    made.supervisor.engine.dispose()
