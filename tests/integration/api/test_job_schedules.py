"""Scheduled jobs in ``crmsync serve``: two real servers on one store (SQLite and PostgreSQL), a
job scheduled at one second: it runs at that second, once, and the API and ``crmsync job list``
show its schedule, next run and last result."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

JOB = """version: 1
name: tick
schedule:
  cron: "{cron}"
  timezone: Europe/Paris
steps:
  pause: {{kind: wait, seconds: 2}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _crmsync(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crmsync", *args], capture_output=True, text=True, **kw
    )


def _wait_up(base: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.2)


@pytest.fixture
def folder(tmp_path: Path, store_location: tuple[str, str | None]) -> Path:
    schema = f"\n  pg_schema: {store_location[1]}" if store_location[1] else ""
    (tmp_path / "crmsync.yaml").write_text(
        f"version: 1\nstore:\n  url: {store_location[0]}{schema}\n", encoding="utf-8"
    )
    (tmp_path / "jobs").mkdir()
    return tmp_path


@pytest.fixture
def headers(folder: Path) -> dict[str, str]:
    """A viewer's token (its user made before the servers start: the store is made then)."""
    config = str(folder / "crmsync.yaml")
    made = _crmsync(
        "user", "add", "olga", "--role", "viewer", "--config", config, input="a long password\n"
    )
    assert made.returncode == 0, made.stderr
    token = _crmsync("user", "token", "olga", "--config", config).stdout.strip()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def servers(folder: Path, headers: dict[str, str]) -> Iterator[list[str]]:
    """Two ``crmsync serve`` processes on the same store and jobs folder."""
    config = str(folder / "crmsync.yaml")
    ports = [_free_port(), _free_port()]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "crmsync", "serve", "--config", config, "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
            cwd=folder,
        )
        for port in ports
    ]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            _wait_up(base)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def test_a_scheduled_job_runs_at_its_time_once(
    folder: Path, headers: dict[str, str], servers: list[str]
) -> None:
    config = str(folder / "crmsync.yaml")
    # A cron expression naming one second (the sixth field), 4 s from now, Paris time.
    at = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    local = at.astimezone(ZoneInfo("Europe/Paris"))
    cron = f"{local.minute} {local.hour} {local.day} {local.month} * {local.second}"
    (folder / "jobs" / "tick.yaml").write_text(JOB.format(cron=cron), encoding="utf-8")

    listed = httpx.get(f"{servers[0]}/api/jobs", headers=headers).json()
    assert listed[0]["schedule"] == {"cron": cron, "timezone": "Europe/Paris"}
    assert datetime.fromisoformat(listed[0]["next_run"]) == at
    assert listed[0]["last_run"] is None

    # The slot passes; its run (2 s of waiting) ends; both servers tick on for a while more.
    deadline = time.monotonic() + 20
    while True:
        runs = httpx.get(f"{servers[1]}/api/runs", headers=headers).json()
        if runs and runs[0]["status"] == "succeeded":
            break
        assert time.monotonic() < deadline, f"no run succeeded: {runs}"
        time.sleep(0.3)
    time.sleep(2)
    runs = httpx.get(f"{servers[1]}/api/runs", headers=headers).json()
    assert len(runs) == 1, runs  # one run, by one of the two servers
    started = datetime.fromisoformat(runs[0]["started_at"])
    assert at <= started < at + timedelta(seconds=3)
    # Started once: the other server did not take the run under way over ("resumed").
    detail = httpx.get(f"{servers[0]}/api/runs/{runs[0]['id']}", headers=headers).json()
    assert [line["message"] for line in detail["log"]] == []
    assert [(step["step"], step["status"]) for step in detail["steps"]] == [("pause", "done")]

    for base in servers:
        job = httpx.get(f"{base}/api/jobs", headers=headers).json()[0]
        assert job["last_run"]["id"] == runs[0]["id"]
        assert job["last_run"]["status"] == "succeeded"
        assert [run["id"] for run in job["history"]] == [runs[0]["id"]]
        # The expression names one day of the year: the next run is a year on.
        assert datetime.fromisoformat(job["next_run"]).year == at.year + 1

    shown = _crmsync("job", "list", "--config", config, "--jobs", str(folder / "jobs"), "--json")
    assert shown.returncode == 0, shown.stderr
    (entry,) = json.loads(shown.stdout)
    assert entry["name"] == "tick"
    assert entry["schedule"] == {"cron": cron, "timezone": "Europe/Paris"}
    assert entry["last_run"]["status"] == "succeeded"
    assert datetime.fromisoformat(entry["next_run"]).year == at.year + 1
