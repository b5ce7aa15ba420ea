"""Settings of the Salesforce emulator (command-line options map onto these fields)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["SalesforceEmulatorSettings"]


class SalesforceEmulatorSettings(BaseModel):
    """How one Salesforce emulator behaves. Defaults follow the real service."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: ``None``: data in memory; otherwise the SQLite file the data persists to.
    data_file: Path | None = None
    #: Generated at start-up: in memory, or into ``data_file`` when it does not exist yet (made
    #: once; a file that exists is used as it is, and must have been made with the same counts:
    #: see ``crmsync.emulators.common.datafile``).
    seed_contacts: int = Field(default=0, ge=0)
    seed_accounts: int = Field(default=0, ge=0)
    seed_subscriptions: int = Field(default=0, ge=0)
    #: When set, only these client credentials get a token; by default any do.
    client_id: str | None = None
    client_secret: SecretStr | None = None
    #: When set, the username-password flow signs in only this user, with this password and
    #: security token appended to it (as Salesforce expects); by default any user does.
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    #: Session lifetime (Salesforce's default session timeout is two hours).
    token_lifetime_seconds: int = Field(default=7200, gt=0)
    #: Newest API version served; every version from 31.0 up to it is accepted.
    api_version: str = "62.0"
    #: Daily API request budget (``DailyApiRequests``) over a rolling 24 hours.
    api_daily_limit: int = Field(default=100_000, gt=0)
    #: How far back ``deleted/`` reaches and how long deleted rows stay in the recycle bin.
    deleted_retention_days: float = Field(default=15.0, gt=0)
    #: How far back ``updated/`` reaches.
    updated_retention_days: float = Field(default=30.0, gt=0)
    #: Query batch size when the client does not ask for one (``Sforce-Query-Options``).
    query_batch_size: int = Field(default=2000, ge=200, le=2000)
    #: A query locator expires after this long without being used.
    query_locator_idle_seconds: float = Field(default=900.0, gt=0)
    #: Most ids ``updated/`` and ``deleted/`` return before ``EXCEEDED_ID_LIMIT``.
    replication_id_limit: int = Field(default=600_000, gt=0)

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"\d{2}\.0", value) or not 31 <= int(value[:2]) <= 99:
            raise ValueError("an API version looks like 62.0 (31.0 or later)")
        return value
