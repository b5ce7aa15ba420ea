"""Settings of the Dataverse emulator (command-line options map onto these fields)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class DataverseEmulatorSettings(BaseModel):
    """How one Dataverse emulator behaves. Defaults follow the real service."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: ``None``: data in memory; otherwise the SQLite file the data persists to.
    data_file: Path | None = None
    #: Generated at start-up: in memory, or into ``data_file`` when it does not exist yet (made
    #: once; a file that exists is used as it is, and must have been made with the same counts:
    #: see ``crmsync.emulators.common.datafile``).
    seed_contacts: int = Field(default=0, ge=0)
    seed_accounts: int = Field(default=0, ge=0)
    #: When set, only these client credentials get a token; by default any do.
    client_id: str | None = None
    client_secret: SecretStr | None = None
    #: A PEM certificate registered for the client: client assertions must be signed by its key.
    #: Without one, certificate sign-in is refused (the application has no certificate).
    client_certificate: Path | None = None
    token_lifetime_seconds: int = Field(default=3599, gt=0)
    #: Service protection, per user, over a sliding window (the real defaults).
    rate_limit_requests: int = Field(default=6000, gt=0)
    rate_limit_window_seconds: float = Field(default=300.0, gt=0)
    rate_limit_execution_ms: int = Field(default=1_200_000, gt=0)
    rate_limit_concurrent: int = Field(default=52, gt=0)
    #: How long a change-tracking delta token stays valid.
    change_tracking_retention_days: float = Field(default=7.0, gt=0)
    max_page_size: int = Field(default=5000, gt=0, le=5000)
    max_batch_requests: int = Field(default=1000, gt=0)
