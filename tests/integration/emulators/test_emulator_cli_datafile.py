"""``crmsync emulate … --data FILE --seed …``: the file is seeded at the first start, reused by
the next ones with the same seed, and another seed is refused with exit code 2."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from emulator_cli_support import CRMSYNC, free_port, wait_until_up

_TABLE = {"dataverse": "contact", "salesforce": "Contact"}


def _serve(kind: str, data: Path, seed: str, ca: Path) -> None:
    """Start, wait until it answers, stop: the run must end cleanly."""
    port = free_port()
    seeded = ["--data", str(data), "--seed", seed]
    process = subprocess.Popen(
        [CRMSYNC, "emulate", kind, "--port", str(port), "--tls", "--ca-file", str(ca), *seeded],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        trusted = wait_until_up(process, f"https://127.0.0.1:{port}", ca)
        health = httpx.get(f"https://127.0.0.1:{port}/_emulator/health", verify=trusted)
        assert health.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err


def _rows(data: Path, table: str) -> list[str]:
    key = "contactid" if table == "contact" else "Id"
    with closing(sqlite3.connect(data)) as db:
        return [row[0] for row in db.execute(f'SELECT "{key}" FROM "{table}" ORDER BY 1')]  # noqa: S608


@pytest.mark.parametrize("kind", ["dataverse", "salesforce"])
def test_a_seeded_data_file_is_made_once_and_reused(tmp_path: Path, kind: str) -> None:
    data, ca = tmp_path / "crm.db", tmp_path / "ca.pem"
    _serve(kind, data, "contacts=120,accounts=5", ca)
    made = _rows(data, _TABLE[kind])
    assert len(made) == 120
    assert not (tmp_path / "crm.db.seeding").exists()

    _serve(kind, data, "contacts=120,accounts=5", ca)
    assert _rows(data, _TABLE[kind]) == made  # reused, not seeded again

    refused = subprocess.run(
        [CRMSYNC, "emulate", kind, "--port", "0", "--data", str(data), "--seed", "contacts=121"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    text = " ".join(refused.stderr.replace("│", " ").split())  # unwrap Rich's error box
    assert "--data" in text
    assert "was made with --seed contacts=120,accounts=5, not contacts=121" in text
    assert "Traceback" not in refused.stderr
    assert _rows(data, _TABLE[kind]) == made
