"""Client secrets, read from the environment or a file named in the configuration."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from crmsync.config.errors import ConfigError, ConfigIssue
from crmsync.config.models import Config, DataverseConnection, SalesforceConnection

__all__ = ["resolve_secret", "resolve_secrets"]


def resolve_secret(
    name: str,
    connection: DataverseConnection | SalesforceConnection,
    environ: Mapping[str, str] | None = None,
) -> SecretStr:
    """The client secret of connection ``name``; :class:`ConfigError` names what is missing.

    The value is a :class:`~pydantic.SecretStr`: it prints as stars and never reaches a log.
    """
    env = os.environ if environ is None else environ
    if connection.client_secret_env is not None:
        value = env.get(connection.client_secret_env)
        if not value:
            raise ConfigError(
                [
                    ConfigIssue(
                        ("connections", name, "client_secret_env"),
                        f"environment variable '{connection.client_secret_env}' is not set "
                        "or empty",
                    )
                ]
            )
        return SecretStr(value)
    path = Path(connection.client_secret_file or "")
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            [
                ConfigIssue(
                    ("connections", name, "client_secret_file"),
                    f"cannot read secret file '{path}': {exc.strerror or exc}",
                )
            ]
        ) from None
    if not value:
        raise ConfigError(
            [ConfigIssue(("connections", name, "client_secret_file"), f"'{path}' is empty")]
        )
    return SecretStr(value)


def resolve_secrets(
    config: Config, environ: Mapping[str, str] | None = None
) -> dict[str, SecretStr]:
    """The client secret of every connection, by connection name."""
    secrets: dict[str, SecretStr] = {}
    issues: list[ConfigIssue] = []
    for name, connection in config.connections.items():
        try:
            secrets[name] = resolve_secret(name, connection, environ)
        except ConfigError as exc:
            issues += exc.issues
    if issues:
        raise ConfigError(issues)
    return secrets
