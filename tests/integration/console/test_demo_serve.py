"""``crmsync demo --serve`` as a real process: the demo's sync, then the console on its data
with a generated admin password; logging in over HTTP works; SIGINT ends it with exit code 0."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_until(process: subprocess.Popen[str], pattern: str, seconds: float) -> re.Match[str]:
    """The first line of the process's output that matches ``pattern``."""
    assert process.stdout is not None
    deadline = time.monotonic() + seconds
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


def test_demo_serves_the_console_until_sigint(tmp_path: Path) -> None:
    port = _free_port()
    env = os.environ | {"PYTHONUNBUFFERED": "1", "COLUMNS": "120"}
    command = ["demo", "--contacts", "20", "--serve", "--port", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "crmsync", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,  # crmsync-demo.db is made in the working folder
    )
    try:
        url = _read_until(process, r"Console: (http://\S+)", 120)[1]
        login = _read_until(process, r"Log in as (\S+) with the password (\S+)", 10)
        name, password = login[1], login[2]
        assert url == f"http://127.0.0.1:{port}/console/"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            refused = client.post("/console/login", data={"name": name, "password": "wrong!!!"})
            assert refused.status_code == 401
            answer = client.post("/console/login", data={"name": name, "password": password})
            assert answer.status_code == 303
            page = client.get("/console/workflows")
            assert page.status_code == 200
            assert f'{name} <span class="role">(admin)</span>' in page.text
            mappings = client.get("/console/mappings")
            assert 'data-mapping="contacts"' in mappings.text
            assert 'data-mapping="subscriptions"' in mappings.text
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    assert password not in rest  # said once, never again
