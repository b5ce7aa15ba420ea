"""uvicorn's server as every crmsync command runs it: stopping cleanly on SIGINT/SIGTERM.

uvicorn re-raises the captured signal once it has shut down (KeyboardInterrupt, or death by
SIGTERM); a crmsync server that was asked to stop should instead finish its own clean-up (stop the
workflows, close the store) and exit normally.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Generator

import uvicorn

__all__ = ["StoppableServer"]


class StoppableServer(uvicorn.Server):
    """A uvicorn server that returns normally on SIGINT/SIGTERM; ``on_ready`` is called with the
    bound port once it listens (useful with port 0)."""

    def __init__(
        self, config: uvicorn.Config, *, on_ready: Callable[[int], None] | None = None
    ) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    @property
    def bound_port(self) -> int:
        port: int = self.servers[0].sockets[0].getsockname()[1]
        return port

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_ready is not None:
            self._on_ready(self.bound_port)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
