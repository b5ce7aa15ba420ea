"""Settings of one Dataverse connection: where the organisation is, how to sign in, how hard to try.

Validated once when the configuration is loaded; every secret is a :class:`~pydantic.SecretStr`
so that neither ``repr()`` nor logs ever show it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from crmsync.connectors.config import check_base_url, check_https

__all__ = ["DataverseConnectionConfig"]

_MICROSOFT_AUTHORITY = "https://login.microsoftonline.com/{tenant_id}"


class DataverseConnectionConfig(BaseModel):
    """Connection to one Dataverse organisation (Dynamics 365), signed in as an application user.

    Credentials: exactly one of ``client_secret``, ``certificate_file`` (a PEM file holding the
    private key and its certificate), or ``private_key`` with ``certificate`` (both PEM text).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Organisation base URL, e.g. ``https://contoso.crm4.dynamics.com`` (no path).
    url: str
    tenant_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    #: Token authority; defaults to Microsoft Entra ID for ``tenant_id``. Set it to an emulator's.
    authority: str | None = None

    client_secret: SecretStr | None = None
    certificate_file: Path | None = None
    certificate_thumbprint: str | None = None
    private_key: SecretStr | None = None
    certificate: str | None = None

    #: Extra certificate authorities to trust (TLS verification itself is always on).
    ca_bundle: Path | None = None
    #: Only for tests against a local emulator: accept ``http://`` URLs.
    allow_insecure_http: bool = False

    api_version: str = Field(default="v9.2", pattern=r"^v\d+\.\d+$")
    page_size: int = Field(default=5000, ge=1, le=5000)
    timeout_seconds: float = Field(default=120.0, gt=0)
    #: Attempts after the first one for transient failures (throttling, 5xx, dropped connections).
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_initial_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=60.0, ge=0)
    batch_size: int = Field(default=1000, ge=1, le=1000)
    #: Concurrent ``$batch`` requests while writing (Dataverse allows 52 per user).
    max_concurrency: int = Field(default=4, ge=1, le=52)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_base_url(
            value,
            name="url",
            kind="organisation base URL",
            example="https://contoso.crm.dynamics.com",
        )

    @field_validator("authority")
    @classmethod
    def _check_authority(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname or parts.path.strip("/") == "":
            raise ValueError(
                "authority must be an https URL with a tenant path, "
                "e.g. https://login.microsoftonline.com/<tenant>"
            )
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _check_credentials(self) -> Self:
        given = [
            name
            for name, present in (
                ("client_secret", self.client_secret is not None),
                ("certificate_file", self.certificate_file is not None),
                ("private_key", self.private_key is not None),
            )
            if present
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one credential: client_secret, certificate_file, or "
                f"private_key with certificate (got {', '.join(given) or 'none'})"
            )
        if self.private_key is not None and not (self.certificate or self.certificate_thumbprint):
            raise ValueError("private_key needs its certificate (PEM) or certificate_thumbprint")
        if self.certificate is not None and self.private_key is None:
            raise ValueError("certificate is only used with private_key")
        check_https(self.url, allow_insecure_http=self.allow_insecure_http)
        return self

    @property
    def authority_url(self) -> str:
        """The token authority, ``https://host/<tenant>``."""
        return self.authority or _MICROSOFT_AUTHORITY.format(tenant_id=self.tenant_id)

    @property
    def service_root(self) -> str:
        """The Web API root, ending with a slash: ``{url}/api/data/v9.2/``."""
        return f"{self.url}/api/data/{self.api_version}/"

    @property
    def scope(self) -> str:
        """The OAuth scope that grants access to the organisation's Web API."""
        return f"{self.url}/.default"
