"""``crmsync serve`` reads jobs from ``--jobs`` and stops cleanly on SIGINT and SIGTERM: status 0,
no traceback."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CONFIG = "version: 1\nstore:\n  url: sqlite:///{folder}/store.db\n"
JOB = "version: 1\nname: pause\nsteps:\n  wait: {kind: wait, seconds: 0}\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_exits_zero_when_asked_to_stop(tmp_path: Path, stop: signal.Signals) -> None:
    config = tmp_path / "crmsync.yaml"
    config.write_text(CONFIG.format(folder=tmp_path))
    jobs = tmp_path / "elsewhere"
    jobs.mkdir()
    (jobs / "pause.yaml").write_text(JOB)
    crmsync = [sys.executable, "-m", "crmsync"]
    add = [*crmsync, "user", "add", "ada", "--role", "viewer", "--config", str(config)]
    subprocess.run(add, input="a long password\n", text=True, check=True, capture_output=True)
    made = subprocess.run(
        [*crmsync, "user", "token", "ada", "--config", str(config)],
        text=True,
        check=True,
        capture_output=True,
    )
    headers = {"Authorization": f"Bearer {made.stdout.strip()}"}
    port = _free_port()
    server = subprocess.Popen(
        [*crmsync, "serve", "--config", str(config), "--port", str(port), "--jobs", str(jobs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
        listed = httpx.get(f"http://127.0.0.1:{port}/api/jobs", headers=headers).json()
        assert [job["name"] for job in listed] == ["pause"]
        server.send_signal(stop)
        _out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err
    assert "Traceback" not in err
    assert "Application shutdown complete" in err
