"""Running ``crmsync emulate …`` as a subprocess: the command, a free port, waiting for it."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

CRMSYNC = str(Path(sys.executable).with_name("crmsync"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(process: subprocess.Popen[str], url: str, ca: Path) -> ssl.SSLContext:
    """A TLS context trusting ``ca`` once the emulator at ``url`` answers its health check."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if ca.exists():
            context = ssl.create_default_context(cafile=ca)
            try:
                if httpx.get(f"{url}/_emulator/health", verify=context).status_code == 200:
                    return context
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    raise AssertionError("the emulator did not come up")
