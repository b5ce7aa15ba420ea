"""The change queue the configuration names: the one place that knows how to open it."""

from __future__ import annotations

from crmsync.config.errors import ConfigError, ConfigIssue
from crmsync.config.models import Config
from crmsync.queue.base import ChangeQueue
from crmsync.queue.sqlite import SQLiteQueue

__all__ = ["open_queue"]


def open_queue(config: Config, *, ack_wait_seconds: float = 30.0) -> ChangeQueue:
    """The configured change queue (the embedded SQLite queue)."""
    if config.queue.kind != "sqlite":
        raise ConfigError(
            [ConfigIssue(("queue", "kind"), "only the 'sqlite' queue is available in this build")]
        )
    return SQLiteQueue(config.queue.path, ack_wait_seconds=ack_wait_seconds)
