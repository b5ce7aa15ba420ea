"""The daily API request budget: ``Sforce-Limit-Info`` and ``GET limits/``.

Salesforce counts API requests over a rolling 24 hours. The emulator keeps one window per
emulator: it opens with the first counted request, and the count starts again from zero once the
emulator clock is 24 hours past the window's opening (move the clock to test a reset). When the
budget is spent, requests get ``403 REQUEST_LIMIT_EXCEEDED`` until the window resets.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.common.clock import Clock

__all__ = ["ApiUsage", "limits_document", "limits_routes"]

JSON_TYPE = "application/json;charset=UTF-8"

WINDOW_SECONDS = 24 * 3600.0


class ApiUsage:
    """Counts API requests against the daily budget; thread-safe."""

    def __init__(self, clock: Clock, limit: int) -> None:
        self.clock = clock
        self.limit = limit
        self._used = 0
        self._opened: float | None = None
        self._lock = threading.Lock()

    def _roll(self) -> None:
        now = self.clock.monotonic()
        if self._opened is None or now - self._opened >= WINDOW_SECONDS:
            self._opened = now
            self._used = 0

    def take(self) -> bool:
        """Count one request; ``False`` (and nothing counted) when the budget is spent."""
        with self._lock:
            self._roll()
            if self._used >= self.limit:
                return False
            self._used += 1
            return True

    @property
    def used(self) -> int:
        with self._lock:
            self._roll()
            return self._used

    def header(self) -> str:
        """The ``Sforce-Limit-Info`` value."""
        return f"api-usage={self.used}/{self.limit}"


def limits_document(usage: ApiUsage) -> dict[str, Any]:
    """The body of ``GET limits/``: the daily budget and a few fixed org limits."""
    remaining = max(0, usage.limit - usage.used)
    fixed = {
        "DailyAsyncApexExecutions": 250_000,
        "DailyBulkApiBatches": 15_000,
        "DailyBulkV2QueryFileStorageMB": 976_562,
        "DailyBulkV2QueryJobs": 10_000,
        "DailyStreamingApiEvents": 1_000_000,
        "DataStorageMB": 1024,
        "FileStorageMB": 1024,
        "HourlyPublishedPlatformEvents": 250_000,
        "SingleEmailMessage": 5_000,
    }
    document: dict[str, Any] = {"DailyApiRequests": {"Max": usage.limit, "Remaining": remaining}}
    for name, maximum in fixed.items():
        document[name] = {"Max": maximum, "Remaining": maximum}
    return document


def limits_routes(usage: ApiUsage) -> list[BaseRoute]:
    """``GET limits/`` under the versioned API."""

    async def limits(request: Request) -> Response:
        return Response(orjson.dumps(limits_document(usage)), media_type=JSON_TYPE)

    return [
        Route("/limits", limits, methods=["GET"]),
        Route("/limits/", limits, methods=["GET"]),
    ]
