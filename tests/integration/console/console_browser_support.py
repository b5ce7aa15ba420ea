"""A real crmsync server for the browser tests: the API and console under uvicorn over a
supervisor of the standard workflows, against the Dataverse emulator; Chromium from the system.

The browser is Debian's ``/usr/bin/chromium`` (never downloaded). When it is missing the tests
skip, except in CI (``CI=true``), where they fail: CI must test what it claims to.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

# The inbound tests' emulator and configuration helpers are shared rather than copied.
sys.path.insert(0, str(Path(__file__).parents[1] / "sync"))

from inbound_support import ENV, Crm, config_text

from crmsync.api import create_app
from crmsync.api.users import Role, UserStore
from crmsync.emulators.common.server import BackgroundServer
from crmsync.sync.engine import EngineOptions
from crmsync.workflows import Supervisor, standard_specs

__all__ = ["CHROMIUM", "PASSWORD", "SCREENSHOTS", "Console", "chromium_or_skip", "serving"]

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "a browser test password"
#: Screenshots of every page, for a person to look at (ignored by git).
SCREENSHOTS = Path(__file__).parents[3] / "test-artifacts" / "screenshots"


def chromium_or_skip() -> Path:
    """The system's Chromium; skips the test when it is missing (fails in CI)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@dataclass
class Console:
    """A running server: its URL, supervisor and an admin API token for the tests' checks."""

    url: str
    supervisor: Supervisor
    token: str

    def api(self, method: str, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60)


@contextmanager
def serving(crm: Crm, folder: Path) -> Iterator[Console]:
    """The server over ``crm``, with users ``admin``, ``operator`` and ``viewer``; no mapping
    yet. Every workflow is stopped before the server ends."""
    text = config_text(crm.url, crm.tls.ca, folder, " []")
    engine = sa.create_engine(f"sqlite:///{folder / 'store.db'}")
    specs = standard_specs(ENV, EngineOptions(poll_interval_seconds=0.2))
    supervisor = Supervisor(engine, text, specs, environ=ENV, stop_timeout=10)
    # Cheap argon2 parameters: the tests check the flow, not the hash's cost.
    users = UserStore(engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for role in Role:
        users.add(role.value, role, PASSWORD)
    token = users.new_token("admin")
    try:
        app = create_app(supervisor, users, jobs_folder=folder / "jobs")
        with BackgroundServer(app) as server:
            console = Console(server.url, supervisor, token)
            try:
                yield console
            finally:
                for name in supervisor.specs:
                    console.api("POST", f"/api/workflows/{name}/stop")
    finally:
        engine.dispose()
