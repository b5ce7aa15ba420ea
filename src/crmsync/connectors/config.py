"""What both connections' settings share: the base model, the URL checks and the TLS trust store.

:class:`ConnectionSettings` declares the settings every CRM connection has (URL, client id and
secret, trust, timeout, retries) with one set of defaults; the Dataverse and Salesforce settings
extend it. A URL is refused with the same rules (and messages naming the CRM's own URL kind) on
both sides.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated, ClassVar, Self
from urllib.parse import urlsplit

import certifi
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crmsync.connectors.secrets import EnvName, RefusedSecret
from crmsync.errors import ConfigurationError

__all__ = ["ConnectionSettings", "check_base_url", "check_https", "ssl_context"]


class ConnectionSettings(BaseModel):
    """The settings every CRM connection has. Secrets are named by where they are (``*_env``,
    ``*_file``) and read only when the connector opens (:mod:`crmsync.connectors.secrets`)."""

    # A refused clear-text secret must not be echoed by the error that refuses it.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    #: The secrets of these settings, each given by ``<name>_env`` or ``<name>_file``.
    secrets: ClassVar[tuple[str, ...]] = ("client_secret",)
    #: What the URL is and an example of one, for the messages.
    url_kind: ClassVar[str] = "base URL"
    url_example: ClassVar[str] = "https://crm.example.com"

    url: str
    client_id: Annotated[str, Field(min_length=1, max_length=255)]
    client_secret_env: EnvName | None = None
    client_secret_file: Path | None = None
    client_secret: RefusedSecret = None

    #: Extra certificate authorities to trust (TLS verification itself is always on).
    ca_bundle: Path | None = None
    #: Only for tests against a local emulator: accept ``http://`` URLs.
    allow_insecure_http: bool = False

    #: Seconds to wait for each answer (and for the token endpoint).
    timeout_seconds: float = Field(default=120.0, gt=0, le=600)
    #: Attempts after the first one for transient failures (throttling, 5xx, dropped connections).
    max_retries: int = Field(default=5, ge=0, le=20)
    #: Exponential backoff between attempts: the first pause, and the longest.
    backoff_initial_seconds: float = Field(default=0.5, ge=0, le=600)
    backoff_max_seconds: float = Field(default=60.0, ge=0, le=3600)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_base_url(value, name="url", kind=cls.url_kind, example=cls.url_example)

    @model_validator(mode="after")
    def _check_common(self) -> Self:
        for name in self.secrets:
            if getattr(self, f"{name}_env") is not None and getattr(self, f"{name}_file"):
                raise ValueError(f"give one of '{name}_env' and '{name}_file', not both")
        check_https(self.url, allow_insecure_http=self.allow_insecure_http)
        return self

    def has_secret(self, name: str) -> bool:
        """Whether a source (variable or file) is named for secret ``name``."""
        return getattr(self, f"{name}_env") is not None or getattr(self, f"{name}_file") is not None


def check_base_url(value: str, *, name: str, kind: str, example: str) -> str:
    """``scheme://host[:port]`` of ``value``; a ``ValueError`` unless it is nothing more.

    ``kind`` says what the URL is (``organisation base URL``) and ``example`` shows one, for the
    messages.
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{name} must be an absolute https URL, e.g. {example}")
    if parts.username or parts.password:
        raise ValueError(f"{name} must not carry credentials")
    if parts.query or parts.fragment or parts.path.strip("/"):
        raise ValueError(f"{name} must be the {kind} only (no path or query)")
    return f"{parts.scheme}://{parts.netloc}"


def check_https(url: str, *, allow_insecure_http: bool) -> None:
    """A ``ValueError`` for an ``http://`` URL unless plain HTTP was allowed (local tests)."""
    if urlsplit(url).scheme == "http" and not allow_insecure_http:
        raise ValueError("url must use https (allow_insecure_http is for local tests only)")


def ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Verification always on: the public CAs, plus ``ca_bundle`` when one is configured."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cannot load ca_bundle {ca_bundle}: {exc}") from None
    return context
