"""Settings of one Salesforce connection: where the org is, how to sign in, how hard to try.

One class per OAuth flow (client credentials, username-password) in a union discriminated by
``flow``, so that a configuration can never mix the two. Every secret is a
:class:`~pydantic.SecretStr`, so neither ``repr()`` nor logs ever show it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from crmsync.connectors.config import check_base_url, check_https

__all__ = [
    "ClientCredentials",
    "CursorField",
    "PasswordCredentials",
    "SalesforceConnectionConfig",
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
        return check_base_url(
            value,
            name="url",
            kind="My Domain or login URL",
            example="https://acme.my.salesforce.com",
        )

    @model_validator(mode="after")
    def _check_scheme(self) -> Self:
        check_https(self.url, allow_insecure_http=self.allow_insecure_http)
        return self

    @property
    def token_url(self) -> str:
        return f"{self.url}/services/oauth2/token"

    def api_root(self, instance_url: str) -> str:
        """The REST root on an instance, ending with a slash: ``…/services/data/v62.0/``."""
        return f"{instance_url.rstrip('/')}/services/data/{self.api_version}/"
