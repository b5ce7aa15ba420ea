"""The ``api`` fixture: an API over fake workflows, a fake CRM and users of each role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from api_support import Api, make_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    made = make_api(tmp_path)
    async with made.client:
        yield made
    await made.supervisor.close()
    made.supervisor.engine.dispose()
