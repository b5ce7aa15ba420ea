"""The CRM's clock, as the ``Date`` header of its answers gives it.

Both CRMs stamp every HTTP answer with their current time (whole seconds, rounded down). A
client that remembers the latest one, with its own monotonic clock at that moment, knows the
CRM's time without asking for it: the header's time plus the local time elapsed since. That
estimate follows the CRM's clock, not crmsync's wall clock, and does not run ahead of it (the
header is rounded down): what the CRM stamps afterwards is stamped at or after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

__all__ = ["ServerTime"]


class ServerTime:
    """The CRM's time from the latest answer that carried a ``Date`` header.

    ``clock`` is the monotonic clock the elapsed time is measured with (the client's own).
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._seen: tuple[datetime, float] | None = None

    def observe(self, headers: Mapping[str, str]) -> None:
        """Remember the ``Date`` of an answer; an absent or unreadable one is ignored."""
        value = headers.get("date")
        if not value:
            return
        try:
            seen = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return
        if seen.tzinfo is None:
            seen = seen.replace(tzinfo=UTC)
        self._seen = (seen.astimezone(UTC), self._clock())

    def now(self) -> datetime | None:
        """The CRM's current time, ``None`` until an answer carried a ``Date``."""
        if self._seen is None:
            return None
        seen, at = self._seen
        return seen + timedelta(seconds=max(0.0, self._clock() - at))
