"""A clock that tests can move: the emulators read time only through it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SupportsNow"]


class SupportsNow(Protocol):
    """The part of the emulator clock the stores need."""

    def now(self) -> datetime: ...


class Clock:
    """Wall clock that tests can move forward/set; thread-safe.

    Real time plus an offset, so that time keeps flowing between moves (timeouts, windows and
    token lifetimes behave as they would in production, only shifted).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0

    @property
    def offset(self) -> float:
        """Seconds this clock runs ahead of real time (negative: behind)."""
        with self._lock:
            return self._offset

    def now(self) -> datetime:
        """The current time: aware, in UTC."""
        return datetime.fromtimestamp(time.time() + self.offset, UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative number) by ``seconds``."""
        with self._lock:
            self._offset += seconds

    def set(self, when: datetime) -> None:
        """Move the clock so that :meth:`now` reads ``when`` (which must be timezone-aware)."""
        if when.tzinfo is None:
            raise ValueError("Clock.set() needs a timezone-aware datetime")
        with self._lock:
            self._offset = when.timestamp() - time.time()

    def monotonic(self) -> float:
        """``time.monotonic()`` plus the same offset: for windows and durations."""
        return time.monotonic() + self.offset
