"""Start ``crmsync emulate …`` in its own process for a benchmark, and stop it after."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dataverse_emulator(
    *, contacts: int, accounts: int = 100, tls_dir: Path | None = None, startup_timeout: float = 600
) -> Iterator[tuple[str, Path | None]]:
    """Yield (base URL, CA file or None) of an emulator process seeded with ``contacts`` rows."""
    seed = ["--seed", f"contacts={contacts},accounts={accounts}"]
    with emulator_process("dataverse", seed, tls_dir, startup_timeout) as (url, ca_file, _):
        yield url, ca_file


#: Benchmarks measure throughput, not service protection or API budgets.
_UNLIMITED = {
    "dataverse": ["--rate-limit", "1000000000/300"],
    "salesforce": ["--api-limit", "1000000000"],
}


@contextmanager
def emulator_process(
    kind: str, options: list[str], tls_dir: Path | None = None, startup_timeout: float = 600
) -> Iterator[tuple[str, Path | None, subprocess.Popen[bytes]]]:
    """Yield (base URL, CA file or None, process) of ``crmsync emulate KIND OPTIONS`` once it
    answers its health check; stopped with SIGINT after."""
    port = free_port()
    command = [sys.executable, "-m", "crmsync", "emulate", kind, "--port", str(port)]
    command += [*options, *_UNLIMITED[kind]]
    ca_file = None
    if tls_dir is not None:
        ca_file = tls_dir / "emulator-ca.pem"
        command += ["--tls", "--ca-file", str(ca_file)]
    scheme = "https" if tls_dir else "http"
    url = f"{scheme}://127.0.0.1:{port}"
    process = subprocess.Popen(
        command, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the emulator exited with code {process.returncode}")
            try:
                if ca_file is not None and not ca_file.exists():
                    raise FileNotFoundError(ca_file)
                verify: str | bool = str(ca_file) if ca_file else True
                health = httpx.get(f"{url}/_emulator/health", verify=verify, timeout=2)
                if health.status_code == 200:
                    break
            except (httpx.HTTPError, FileNotFoundError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start in time")
            time.sleep(0.2)
        yield url, ca_file, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
