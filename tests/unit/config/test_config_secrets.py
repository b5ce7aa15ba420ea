from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.config import Config, ConfigError, resolve_secret, resolve_secrets

SECRET = "s3cr3t-value-xyz"


def config(**secret: str) -> Config:
    return Config.model_validate(
        {
            "connections": {
                "sf": {
                    "kind": "salesforce",
                    "url": "https://x.my.salesforce.com",
                    "client_id": "app",
                }
                | secret
            }
        }
    )


def test_secret_from_environment_is_hidden() -> None:
    cfg = config(client_secret_env="SF_SECRET")
    secret = resolve_secret("sf", cfg.connections["sf"], {"SF_SECRET": SECRET})
    assert secret.get_secret_value() == SECRET
    assert SECRET not in repr(secret)
    assert SECRET not in str(secret)
    assert SECRET not in repr(resolve_secrets(cfg, {"SF_SECRET": SECRET}))
    assert SECRET not in repr(cfg)


def test_secret_from_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n", encoding="utf-8")
    cfg = config(client_secret_file=str(path))
    assert resolve_secrets(cfg, {})["sf"].get_secret_value() == SECRET


def test_missing_environment_variable_names_the_path() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_secrets(config(client_secret_env="SF_SECRET"), {})
    (issue,) = caught.value.issues
    assert issue.path == "connections.sf.client_secret_env"
    assert "'SF_SECRET' is not set" in issue.message


def test_unreadable_or_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read secret file"):
        resolve_secrets(config(client_secret_file=str(tmp_path / "none")), {})
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is empty"):
        resolve_secrets(config(client_secret_file=str(empty)), {})
