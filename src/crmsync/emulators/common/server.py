"""Run an emulator's ASGI app under uvicorn: in a background thread (tests, in-process demos) or
in the foreground until SIGINT/SIGTERM (``crmsync emulate``)."""

from __future__ import annotations

import contextlib
import importlib.util
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from crmsync.emulators.common.tls import TlsFiles
from crmsync.serving import StoppableServer

__all__ = ["BackgroundServer", "serve_foreground"]

_START_TIMEOUT_SECONDS = 15.0


def _config(app: ASGIApp, host: str, port: int, tls: TlsFiles | None) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        # An app that sends its own Date (from an emulator clock tests can move) gets no second.
        date_header=not getattr(app, "sends_date_header", False),
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
    )


class BackgroundServer:
    """An ASGI app served by uvicorn in a daemon thread; a context manager.

    Entering starts the server and waits until it listens; leaving shuts it down cleanly. With
    ``port=0`` the system picks a free port; :attr:`port` and :attr:`url` tell which.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsFiles | None = None,
    ) -> None:
        self._host = host
        self._tls = tls
        self._server = StoppableServer(_config(app, host, port, tls))
        self._thread: threading.Thread | None = None
        self.port = port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``https://127.0.0.1:54321`` (IPv6 hosts in brackets)."""
        scheme = "https" if self._tls else "http"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> None:
        """Start serving; returns once the socket listens (raises if the server cannot start)."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._thread = threading.Thread(target=self._run, name="emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"emulator server failed to start on {self._host}:{self.port}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("emulator server did not start in time")
            time.sleep(0.01)
        self.port = self._server.bound_port

    def _run(self) -> None:
        # uvicorn calls sys.exit() when it cannot bind (after logging why); the thread then ends
        # and start() reports the failure.
        with contextlib.suppress(SystemExit):
            self._server.run()

    def stop(self) -> None:
        """Ask the server to finish in-flight requests and stop; waits for it."""
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=_START_TIMEOUT_SECONDS)
        self._thread = None

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve_foreground(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    tls: TlsFiles | None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve ``app`` in this thread until SIGINT or SIGTERM, then return normally.

    ``on_ready`` is called with the bound port once the server listens (useful with port 0).
    Raises :class:`RuntimeError` when the server cannot start (e.g. the port is taken).
    """
    server = StoppableServer(_config(app, host, port, tls), on_ready=on_ready)
    try:
        server.run()
    except SystemExit:  # uvicorn exits this way when it cannot bind; it has logged why
        raise RuntimeError(f"could not serve on {host}:{port}") from None
