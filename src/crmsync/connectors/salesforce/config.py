"""Settings of one Salesforce connection: where the org is, how to sign in, how hard to try.

The one model of a Salesforce connection: the configuration file's ``connections`` entries of
``kind: salesforce`` are these settings, and Python code builds the same class. ``flow`` picks
the OAuth flow; the username-password flow's keys are refused with the client-credentials flow,
so that a configuration never mixes the two. Secrets are named by where they are (environment
variable or file) and read when the connector opens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

from crmsync.connectors.config import ConnectionSettings
from crmsync.connectors.secrets import EnvName, RefusedSecret

__all__ = ["CursorField", "SalesforceConnectionConfig", "SalesforceFlow"]

CursorField = Literal["SystemModstamp", "LastModifiedDate"]
#: The OAuth 2.0 flows: the connected app's run-as user, or a named user's password.
SalesforceFlow = Literal["client_credentials", "password"]

_PASSWORD_KEYS = (
    "username",
    "password_env",
    "password_file",
    "security_token_env",
    "security_token_file",
)


def _api_version(value: object) -> object:
    """``62.0`` (as Salesforce writes it in URLs after a ``v``) or ``v62.0``."""
    if isinstance(value, int | float):
        value = f"{float(value):.1f}"
    if isinstance(value, str) and not value.startswith("v"):
        return f"v{value}"
    return value


class SalesforceConnectionConfig(ConnectionSettings):
    """Connection to one Salesforce org through the REST API."""

    secrets: ClassVar[tuple[str, ...]] = ("client_secret", "password", "security_token")
    url_kind: ClassVar[str] = "My Domain or login URL"
    url_example: ClassVar[str] = "https://acme.my.salesforce.com"

    kind: Literal["salesforce"] = "salesforce"
    #: ``client_credentials``: the connected app's run-as user; ``password``: ``username``
    #: signs in with the password (and security token) named below.
    flow: SalesforceFlow = "client_credentials"
    username: str | None = Field(default=None, min_length=1, max_length=255)
    password_env: EnvName | None = None
    password_file: Path | None = None
    #: Appended to the password, as Salesforce requires outside trusted IP ranges.
    security_token_env: EnvName | None = None
    security_token_file: Path | None = None
    password: RefusedSecret = None
    security_token: RefusedSecret = None

    api_version: Annotated[str, BeforeValidator(_api_version)] = Field(
        default="v62.0", pattern=r"^v\d{2,3}\.\d$"
    )
    #: Records per query batch (``Sforce-Query-Options: batchSize``); Salesforce allows 200–2,000.
    page_size: int = Field(default=2000, ge=200, le=2000)
    #: Records per sObject Collections call (at most 200).
    batch_size: int = Field(default=200, ge=1, le=200)
    #: The incremental cursor: ``SystemModstamp`` also moves on system changes, so it is safer.
    cursor_field: CursorField = "SystemModstamp"
    #: How far behind the cursor each round re-reads, for transactions committed late.
    overlap_seconds: int = Field(default=60, ge=0, le=3600)
    #: Stop before this share of the org's daily API requests is used.
    api_budget_share: float = Field(default=0.8, gt=0, le=1)

    @model_validator(mode="after")
    def _check_flow(self) -> Self:
        if not self.has_secret("client_secret"):
            raise ValueError(
                "give the connected app's secret: 'client_secret_env' or 'client_secret_file'"
            )
        if self.flow == "password":
            if self.username is None:
                raise ValueError("the password flow needs 'username'")
            if not self.has_secret("password"):
                raise ValueError("the password flow needs 'password_env' or 'password_file'")
            return self
        for name in _PASSWORD_KEYS:
            if getattr(self, name) is not None:
                raise ValueError(f"'{name}' goes with 'flow: password'")
        return self

    @property
    def token_url(self) -> str:
        return f"{self.url}/services/oauth2/token"

    def api_root(self, instance_url: str) -> str:
        """The REST root on an instance, ending with a slash: ``…/services/data/v62.0/``."""
        return f"{instance_url.rstrip('/')}/services/data/{self.api_version}/"
