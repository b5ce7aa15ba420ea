"""Connection secrets: named in the settings by where they are, read only when a connector opens.

A secret ``client_secret`` is given by an environment variable (``client_secret_env``) or a file
(``client_secret_file``), never by its value, so that neither a configuration file, a stored
revision, a ``repr()`` nor a log can ever hold it. :func:`read_secret` reads it into a
:class:`~pydantic.SecretStr`; a missing variable or unreadable file is a :class:`MissingSecret`
that names the setting to fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, SecretStr, ValidationInfo

from crmsync.errors import ConfigurationError

__all__ = [
    "EnvName",
    "MissingSecret",
    "RefusedSecret",
    "RefusedSetting",
    "missing_secrets",
    "read_secret",
    "secret_sources",
]

#: The name of an environment variable.
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=255)]


def _refuse_secret(value: object, info: ValidationInfo) -> None:
    if value is not None:
        name = info.field_name
        raise ValueError(
            f"secrets must not be written in the settings: name an environment variable with "
            f"'{name}_env' or a file with '{name}_file'"
        )


#: A key declared only to refuse a clear-text secret with a helpful message (never stored).
RefusedSecret = Annotated[None, BeforeValidator(_refuse_secret), Field(exclude=True, repr=False)]


def _refuse_setting(value: object, info: ValidationInfo) -> None:
    if value is not None:
        raise ValueError(f"'{info.field_name}' is not available yet for this kind of connection")


#: A key users may expect but that this connector does not have yet: refused, with the reason.
RefusedSetting = Annotated[None, BeforeValidator(_refuse_setting), Field(exclude=True, repr=False)]


class MissingSecret(ConfigurationError):
    """A secret cannot be read; ``setting`` is the key that names it (``client_secret_env``)."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message, code="missing_secret")
        self.setting = setting


def secret_sources(settings: BaseModel, name: str) -> tuple[str | None, Path | None]:
    """``(environment variable, file)`` that ``settings`` name for secret ``name``."""
    env_name: Any = getattr(settings, f"{name}_env")
    path: Any = getattr(settings, f"{name}_file")
    return env_name, path


def read_secret(
    settings: BaseModel, name: str, environ: Mapping[str, str] | None = None
) -> SecretStr | None:
    """Secret ``name`` of ``settings`` (``None`` when they name no source for it)."""
    env_name, path = secret_sources(settings, name)
    env = os.environ if environ is None else environ
    if env_name is not None:
        value = env.get(env_name)
        if not value:
            raise MissingSecret(
                f"{name}_env", f"environment variable '{env_name}' is not set or empty"
            )
        return SecretStr(value)
    if path is None:
        return None
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise MissingSecret(f"{name}_file", f"cannot read secret file '{path}': {reason}") from None
    if not value:
        raise MissingSecret(f"{name}_file", f"'{path}' is empty")
    return SecretStr(value)


def missing_secrets(
    settings: BaseModel, names: tuple[str, ...], environ: Mapping[str, str] | None = None
) -> list[MissingSecret]:
    """Every secret of ``names`` that cannot be read now, without keeping any value."""
    missing: list[MissingSecret] = []
    for name in names:
        try:
            read_secret(settings, name, environ)
        except MissingSecret as exc:
            missing.append(exc)
    return missing
