"""Service protection: per-user sliding windows for request count and execution time, plus a
concurrency gate, as the CRMs apply them (Dataverse: 6,000 requests and 1,200,000 ms per user over
300 s, 52 concurrent requests)."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from crmsync.emulators.common.clock import Clock

__all__ = ["Decision", "LimitReason", "SlidingWindowLimiter"]

LimitReason = Literal["requests", "time", "concurrency"]


@dataclass(slots=True, frozen=True)
class Decision:
    """Whether one request may be served, and what the rate-limit headers should say."""

    allowed: bool
    reason: LimitReason | None
    #: Seconds the client should pause (0 when allowed; at least 1 when refused).
    retry_after: float
    remaining_requests: int
    remaining_time_ms: int


@dataclass(slots=True)
class _Window:
    requests: deque[float] = field(default_factory=deque)
    durations: deque[tuple[float, float]] = field(default_factory=deque)
    time_used_ms: float = 0.0
    active: int = 0
    #: While ``Clock.monotonic()`` is below this, the key is paused (told to retry later).
    paused_until: float = 0.0
    pause_reason: LimitReason = "requests"


class SlidingWindowLimiter:
    """Counts each key's requests and execution time over the last ``window_seconds``.

    Every call is amortised O(1): a deque per key, trimmed from the left as entries age out.
    A refusal pauses the key for ``retry_after`` seconds (until the oldest request leaves the
    window). A request sent during the pause is refused and lengthens the pause by one request's
    share of the window (``window_seconds / requests``, up to a whole window), so a client that
    keeps sending is never served, while one that waits for ``retry_after`` is served again.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        requests: int,
        window_seconds: float,
        execution_ms: int,
        concurrent: int,
    ) -> None:
        if requests <= 0 or window_seconds <= 0 or execution_ms <= 0 or concurrent <= 0:
            raise ValueError("rate limits must be positive")
        self._clock = clock
        self.requests = requests
        self.window_seconds = window_seconds
        self.execution_ms = execution_ms
        self.concurrent = concurrent
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def enter(self, key: str) -> Decision:
        """Count one request of ``key`` and say whether it may be served.

        When allowed, the caller must call :meth:`leave` once the request is done.
        """
        now = self._clock.monotonic()
        with self._lock:
            window = self._windows.setdefault(key, _Window())
            self._trim(window, now)
            if now < window.paused_until:
                window.paused_until = min(
                    window.paused_until + self.window_seconds / self.requests,
                    now + self.window_seconds,
                )
                return self._refuse(window, window.pause_reason, window.paused_until - now)
            if window.active >= self.concurrent:
                return self._refuse(window, "concurrency", 1.0)
            if len(window.requests) >= self.requests:
                oldest = window.requests[0]
                return self._pause(window, "requests", now, oldest + self.window_seconds - now)
            if window.time_used_ms >= self.execution_ms:
                oldest = window.durations[0][0]
                return self._pause(window, "time", now, oldest + self.window_seconds - now)
            window.requests.append(now)
            window.active += 1
            return Decision(True, None, 0.0, *self._remaining(window))

    def leave(self, key: str, elapsed_ms: float) -> None:
        """Record that an allowed request of ``key`` finished after ``elapsed_ms``."""
        now = self._clock.monotonic()
        with self._lock:
            window = self._windows.setdefault(key, _Window())
            window.active = max(0, window.active - 1)
            window.durations.append((now, elapsed_ms))
            window.time_used_ms += elapsed_ms
            self._trim(window, now)

    def remaining(self, key: str) -> tuple[int, int]:
        """``(requests, execution ms)`` left to ``key`` in the current window."""
        now = self._clock.monotonic()
        with self._lock:
            window = self._windows.setdefault(key, _Window())
            self._trim(window, now)
            return self._remaining(window)

    def reset(self) -> None:
        """Forget every key's history (a fresh window for everyone)."""
        with self._lock:
            self._windows.clear()

    def _trim(self, window: _Window, now: float) -> None:
        horizon = now - self.window_seconds
        requests = window.requests
        while requests and requests[0] <= horizon:
            requests.popleft()
        durations = window.durations
        while durations and durations[0][0] <= horizon:
            window.time_used_ms -= durations.popleft()[1]
        if not durations:
            window.time_used_ms = 0.0  # no float drift once the window is empty

    def _remaining(self, window: _Window) -> tuple[int, int]:
        return (
            max(0, self.requests - len(window.requests)),
            max(0, math.floor(self.execution_ms - window.time_used_ms)),
        )

    def _pause(
        self, window: _Window, reason: LimitReason, now: float, retry_after: float
    ) -> Decision:
        decision = self._refuse(window, reason, retry_after)
        window.paused_until = now + decision.retry_after
        window.pause_reason = reason
        return decision

    def _refuse(self, window: _Window, reason: LimitReason, retry_after: float) -> Decision:
        return Decision(False, reason, max(1.0, retry_after), *self._remaining(window))
