"""A ``nats-server -js`` of a benchmark's own, on a free port with its store in a temporary
folder, so that the benchmark can count its CPU time (from /proc)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

#: Where Debian's package installs the server.
NATS_SERVER = "/usr/sbin/nats-server"


@contextlib.contextmanager
def nats_server(program: str = NATS_SERVER) -> Iterator[tuple[str, int]]:
    """A ``nats-server -js`` of the benchmark's own: its URL and process id."""
    with tempfile.TemporaryDirectory() as store, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        command = [program, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with socket.socket() as client, contextlib.suppress(OSError):
                    client.connect(("127.0.0.1", port))
                    break
                time.sleep(0.05)
            yield f"nats://127.0.0.1:{port}", process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)
