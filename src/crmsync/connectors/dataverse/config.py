"""Settings of one Dataverse connection: where the organisation is, how to sign in, how hard to try.

The one model of a Dataverse connection: the configuration file's ``connections`` entries of
``kind: dataverse`` are these settings, and Python code builds the same class. Secrets are named
by where they are (environment variable or file) and read when the connector opens.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from crmsync.connectors.config import ConnectionSettings
from crmsync.connectors.secrets import EnvName, RefusedSecret, RefusedSetting

__all__ = ["DataverseConnectionConfig"]

_MICROSOFT_AUTHORITY = "https://login.microsoftonline.com/{tenant_id}"


class DataverseConnectionConfig(ConnectionSettings):
    """Connection to one Dataverse organisation (Dynamics 365), signed in as an application user.

    Credentials: a client secret (``client_secret_env`` or ``client_secret_file``) or a
    certificate (``certificate_file``, a PEM certificate registered on the application, with its
    private key in the same file or in ``private_key_file``; an encrypted key's password in
    ``private_key_password_env`` or ``private_key_password_file``).
    """

    secrets: ClassVar[tuple[str, ...]] = ("client_secret", "private_key_password")
    url_kind: ClassVar[str] = "organisation base URL"
    url_example: ClassVar[str] = "https://contoso.crm.dynamics.com"

    kind: Literal["dataverse"] = "dataverse"
    #: The Microsoft Entra tenant (id or domain) of the organisation.
    tenant_id: str | None = Field(default=None, min_length=1, max_length=255)
    #: Token authority; default ``https://login.microsoftonline.com/<tenant_id>``.
    authority: str | None = None

    certificate_file: Path | None = None
    private_key_file: Path | None = None
    private_key_password_env: EnvName | None = None
    private_key_password_file: Path | None = None
    private_key: RefusedSecret = None
    private_key_password: RefusedSecret = None

    api_version: str = Field(default="v9.2", pattern=r"^v\d+\.\d+$")
    #: Rows per page read (``Prefer: odata.maxpagesize``); Dataverse serves at most 5,000.
    page_size: int = Field(default=5000, ge=1, le=5000)
    #: Operations per ``$batch`` request when writing (Dataverse allows 1,000).
    batch_size: int = Field(default=1000, ge=1, le=1000)
    #: Concurrent ``$batch`` requests while writing (Dataverse allows 52 per user).
    max_concurrency: int = Field(default=4, ge=1, le=52)
    #: Dataverse has no daily API budget to share (only per-user service protection limits).
    api_budget_share: RefusedSetting = None

    @field_validator("authority")
    @classmethod
    def _check_authority(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(
                "authority must be an https URL with a tenant path, "
                "e.g. https://login.microsoftonline.com/<tenant>"
            )
        if parts.path.strip("/") == "":
            raise ValueError(
                "authority must end with a tenant path, "
                "e.g. https://login.microsoftonline.com/<tenant>"
            )
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _check_credentials(self) -> Self:
        if self.tenant_id is None and self.authority is None:
            raise ValueError("give 'tenant_id' or 'authority'")
        if self.authority is not None:
            scheme = urlsplit(self.authority).scheme
            if scheme == "http" and not self.allow_insecure_http:
                raise ValueError("authority must use https (allow_insecure_http is for tests)")
        secret, certificate = self.has_secret("client_secret"), self.certificate_file is not None
        if secret == certificate:
            raise ValueError(
                "give one credential: a client secret ('client_secret_env' or "
                "'client_secret_file') or a certificate ('certificate_file')"
            )
        if not certificate:
            for name in (
                "private_key_file",
                "private_key_password_env",
                "private_key_password_file",
            ):
                if getattr(self, name) is not None:
                    raise ValueError(f"'{name}' goes with 'certificate_file'")
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
