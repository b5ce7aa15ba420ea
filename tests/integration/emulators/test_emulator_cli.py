"""``crmsync emulate dataverse`` as users run it: a subprocess serving HTTPS with a generated CA,
a token for a restricted client, a Web API call, and a clean exit on SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from emulator_cli_support import CRMSYNC, free_port, wait_until_up


def test_emulate_dataverse_over_tls_then_sigint(tmp_path: Path) -> None:
    port = free_port()
    ca = tmp_path / "ca.pem"
    url = f"https://127.0.0.1:{port}"
    env = {**os.environ, "CRMSYNC_TEST_SECRET": "pw-from-env"}
    process = subprocess.Popen(
        [
            CRMSYNC, "emulate", "dataverse", "--port", str(port), "--tls", "--ca-file", str(ca),
            "--seed", "contacts=4,accounts=1", "--client-id", "app",
            "--client-secret-env", "CRMSYNC_TEST_SECRET",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        context = wait_until_up(process, url, ca)
        with httpx.Client(base_url=url, verify=context) as client:
            discovery = client.get("/mytenant/v2.0/.well-known/openid-configuration").json()
            assert discovery["token_endpoint"] == f"{url}/mytenant/oauth2/v2.0/token"
            form = {
                "grant_type": "client_credentials",
                "client_id": "app",
                "client_secret": "pw-from-env",
                "scope": f"{url}/.default",
            }
            token = client.post(discovery["token_endpoint"], data=form).json()["access_token"]
            wrong = client.post(discovery["token_endpoint"], data={**form, "client_secret": "x"})
            assert wrong.status_code == 401
            response = client.get(
                "/api/data/v9.2/contacts", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200
            assert len(response.json()["value"]) == 4
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"listening on {url}" in stdout
    assert f"{url}/common" in stdout
    assert str(ca) in stdout
    assert "pw-from-env" not in stdout + stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "contacts=lots"], "is not a non-negative whole number"),
        (["--seed", "leads=3"], "expected contacts=N or accounts=N"),
        (["--tls"], "--tls needs --ca-file"),
        (["--rate-limit", "fast"], "expected REQUESTS/SECONDS"),
        (["--client-id", "a", "--client-secret-env", "CRMSYNC_UNSET_VAR_X"], "is not set"),
        (["--client-certificate", "/nonexistent/app.pem"], "cannot read /nonexistent/app.pem"),
        (["--client-certificate", __file__], "holds no PEM certificate"),
    ],
)
def test_bad_options_fail_with_a_clear_message(args: list[str], message: str) -> None:
    result = subprocess.run(
        [CRMSYNC, "emulate", "dataverse", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    text = " ".join(result.stderr.replace("│", " ").split())  # unwrap Rich's error box
    assert message in text, result.stderr
