"""``crmsync user add``/``user token`` then ``crmsync serve`` as a real process over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CONFIG = """version: 1
store:
  url: sqlite:///{folder}/store.db
"""

JOB = "version: 1\nname: pause\nsteps:\n  wait: {kind: wait, seconds: 0}\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _crmsync(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crmsync", *args], capture_output=True, text=True, **kw
    )


def test_users_then_serve(tmp_path: Path) -> None:
    config = tmp_path / "crmsync.yaml"
    config.write_text(CONFIG.format(folder=tmp_path))
    added = _crmsync(
        "user",
        "add",
        "olga",
        "--role",
        "operator",
        "--config",
        str(config),
        input="a long password\n",
    )
    assert added.returncode == 0, added.stderr
    assert "operator role" in added.stderr
    short = _crmsync("user", "add", "bob", "--config", str(config), input="short\n")
    assert short.returncode == 1
    assert "at least 8 characters" in short.stderr
    made = _crmsync("user", "token", "olga", "--config", str(config))
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("crms_")
    assert _crmsync("user", "token", "nobody", "--config", str(config)).returncode == 1

    port = _free_port()
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "crmsync", "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,  # the default queue file is made in the working folder
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"{base}/health").json() == {"status": "ok"}
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
        assert httpx.get(f"{base}/api/workflows").status_code == 401
        headers = {"Authorization": f"Bearer {token}"}
        listed = httpx.get(f"{base}/api/workflows", headers=headers).json()
        assert {w["name"]: w["status"] for w in listed} == dict.fromkeys(
            ("inbound", "outbound", "optinout"), "STOPPED"
        )
        refused = httpx.post(f"{base}/api/workflows/inbound/start", headers=headers)
        assert refused.status_code == 409
        assert "has no mapping" in refused.json()["detail"]
        assert httpx.get(f"{base}/openapi.json").status_code == 401
        assert "openapi" in httpx.get(f"{base}/openapi.json", headers=headers).json()
        docs = httpx.get(f"{base}/docs")
        assert docs.status_code == 200
        assert "/openapi.json" in docs.text  # Swagger UI, loading the document it describes
        # The jobs folder is jobs/ of the working folder, read at each request.
        (tmp_path / "jobs").mkdir()
        (tmp_path / "jobs" / "pause.yaml").write_text(JOB)
        jobs = httpx.get(f"{base}/api/jobs", headers=headers).json()
        assert [(j["name"], j["valid"]) for j in jobs] == [("pause", True)]
    finally:
        server.terminate()
        server.wait(timeout=30)
