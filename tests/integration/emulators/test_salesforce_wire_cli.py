"""``crmsync emulate salesforce`` as users run it: a subprocess serving HTTPS with a generated CA,
a token for a restricted client, a query, bad options refused, and a clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from emulator_cli_support import CRMSYNC, free_port, wait_until_up


def test_emulate_salesforce_over_tls_then_sigterm(tmp_path: Path) -> None:
    port = free_port()
    ca = tmp_path / "ca.pem"
    url = f"https://127.0.0.1:{port}"
    env = {**os.environ, "CRMSYNC_SF_SECRET": "sf-secret-from-env"}
    process = subprocess.Popen(
        [
            CRMSYNC, "emulate", "salesforce", "--port", str(port), "--tls", "--ca-file", str(ca),
            "--seed", "contacts=30,accounts=2,subscriptions=3", "--client-id", "app",
            "--client-secret-env", "CRMSYNC_SF_SECRET", "--api-limit", "50",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        context = wait_until_up(process, url, ca)
        with httpx.Client(base_url=url, verify=context) as client:
            form = {
                "grant_type": "client_credentials",
                "client_id": "app",
                "client_secret": "sf-secret-from-env",
            }
            token = client.post("/services/oauth2/token", data=form).json()
            assert token["instance_url"] == url
            wrong = client.post("/services/oauth2/token", data={**form, "client_secret": "x"})
            assert wrong.json()["error"] == "invalid_client"
            answer = client.get(
                "/services/data/v62.0/query",
                params={"q": "SELECT COUNT() FROM Subscription__c"},
                headers={"Authorization": f"Bearer {token['access_token']}"},
            )
            assert answer.json()["totalSize"] == 3
            assert answer.headers["Sforce-Limit-Info"] == "api-usage=1/50"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"Salesforce emulator listening on {url}" in stdout
    assert f"{url}/services/data/v62.0" in stdout
    assert "sf-secret-from-env" not in stdout + stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--seed", "leads=3"], "expected contacts=N or accounts=N or subscriptions=N"),
        (["--tls"], "--tls needs --ca-file"),
        (["--api-limit", "0"], "--api-limit"),
        (["--retention-days", "-1"], "deleted_retention_days"),
        (["--client-secret-env", "CRMSYNC_UNSET_VARIABLE_X"], "CRMSYNC_UNSET_VARIABLE_X"),
    ],
)
def test_bad_options_are_refused(arguments: list[str], message: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CRMSYNC_UNSET_VARIABLE_X"}
    env["COLUMNS"] = "200"
    result = subprocess.run(
        [CRMSYNC, "emulate", "salesforce", "--port", "0", *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
