"""Settings of one Salesforce connection: where the org is, how to sign in, how hard to try.

One class per OAuth flow (client credentials, username-password) in a union discriminated by
``flow``, so that a configuration can never mix the two. Every secret is a
:class:`~pydantic.SecretStr`, so neither ``repr()`` nor logs ever show it.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

import certifi
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from crmsync.errors import ConfigurationError

__all__ = [
    "ClientCredentials",
    "CursorField",
    "PasswordCredentials",
    "SalesforceConnectionConfig",
    "ssl_context",
]

CursorField = Literal["SystemModstamp", "LastModifiedDate"]


class ClientCredentials(BaseModel):
    """OAuth 2.0 client-credentials flow: the connected app runs as its configured user."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    flow: Literal["client_credentials"] = "client_credentials"
    client_id: str = Field(min_length=1)
    client_secret: SecretStr


class PasswordCredentials(BaseModel):
    """OAuth 2.0 username-password flow (the password is sent with the security token appended)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    flow: Literal["password"] = "password"
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    username: str = Field(min_length=1)
    password: SecretStr
    security_token: SecretStr | None = None


Credentials = Annotated[ClientCredentials | PasswordCredentials, Field(discriminator="flow")]


class SalesforceConnectionConfig(BaseModel):
    """Connection to one Salesforce org through the REST API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: My Domain or login URL, e.g. ``https://acme.my.salesforce.com`` (no path). API calls go to
    #: the ``instance_url`` the token endpoint returns.
    url: str
    credentials: Credentials
    api_version: str = Field(default="v62.0", pattern=r"^v\d{2,3}\.\d$")

    #: Extra certificate authorities to trust (TLS verification itself is always on).
    ca_bundle: Path | None = None
    #: Only for tests against a local emulator: accept ``http://`` URLs.
    allow_insecure_http: bool = False

    #: Records per query batch (``Sforce-Query-Options: batchSize``); Salesforce allows 200–2,000.
    batch_size: int = Field(default=2000, ge=200, le=2000)
    #: Records per sObject Collections call (at most 200).
    collection_size: int = Field(default=200, ge=1, le=200)
    #: The incremental cursor: ``SystemModstamp`` also moves on system changes, so it is safer.
    cursor_field: CursorField = "SystemModstamp"
    #: How far behind the cursor each round re-reads, for transactions committed late.
    overlap_seconds: int = Field(default=60, ge=0, le=3600)
    #: Stop before this share of the org's daily API requests is used.
    api_budget_share: float = Field(default=0.8, gt=0, le=1)

    timeout_seconds: float = Field(default=120.0, gt=0)
    #: Attempts after the first one for transient failures (5xx, dropped connections).
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_initial_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=60.0, ge=0)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(
                "url must be an absolute https URL, e.g. https://acme.my.salesforce.com"
            )
        if parts.username or parts.password:
            raise ValueError("url must not carry credentials")
        if parts.query or parts.fragment or parts.path.strip("/"):
            raise ValueError("url must be the My Domain or login URL only (no path or query)")
        return f"{parts.scheme}://{parts.netloc}"

    @model_validator(mode="after")
    def _check_scheme(self) -> Self:
        if urlsplit(self.url).scheme == "http" and not self.allow_insecure_http:
            raise ValueError("url must use https (allow_insecure_http is for local tests only)")
        return self

    @property
    def token_url(self) -> str:
        return f"{self.url}/services/oauth2/token"

    def api_root(self, instance_url: str) -> str:
        """The REST root on an instance, ending with a slash: ``…/services/data/v62.0/``."""
        return f"{instance_url.rstrip('/')}/services/data/{self.api_version}/"


def ssl_context(config: SalesforceConnectionConfig) -> ssl.SSLContext:
    """Verification always on: the public CAs, plus ``ca_bundle`` when one is configured."""
    context = ssl.create_default_context(cafile=certifi.where())
    if config.ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(config.ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cannot load ca_bundle {config.ca_bundle}: {exc}") from None
    return context
