"""A restarted ``crmsync emulate … --tls --ca-file F`` keeps its identity: a client that trusted
the CA of the first start (its TLS context loaded once) reaches the second start unchanged."""

from __future__ import annotations

import signal
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from emulator_cli_support import CRMSYNC, free_port, wait_until_up

from crmsync.emulators.common.tls import ca_key_path


def emulate(kind: str, port: int, ca: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CRMSYNC, "emulate", kind, "--port", str(port), "--tls", "--ca-file", str(ca), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return err


@pytest.mark.parametrize(
    ("kind", "data"), [("dataverse", True), ("salesforce", True), ("dataverse", False)]
)
def test_a_restarted_emulator_is_trusted_by_the_same_client(
    tmp_path: Path, kind: str, data: bool
) -> None:
    port = free_port()
    ca = tmp_path / "ca.pem"
    url = f"https://127.0.0.1:{port}"
    extra = ["--data", str(tmp_path / "crm.db")] if data else []
    first = emulate(kind, port, ca, *extra)
    try:
        trusted = wait_until_up(first, url, ca)
        made = stop(first)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert "(new, kept with its key" in made
    assert ca_key_path(ca).stat().st_mode & 0o077 == 0
    second = emulate(kind, port, ca, *extra)
    try:
        wait_until_up(second, url, ca)
        # The context made from the first start's CA file, never reloaded.
        assert httpx.get(f"{url}/_emulator/health", verify=trusted).status_code == 200
        reused = stop(second)
    finally:
        if second.poll() is None:
            second.kill()
            second.communicate()
    assert f"CA: {ca} (kept with its key" in reused
    assert isinstance(trusted, ssl.SSLContext)
