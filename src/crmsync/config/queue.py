"""The ``queue`` section: the embedded SQLite queue, or NATS JetStream for several processes.

One model for both kinds (as a Salesforce connection's ``flow`` picks its keys): the keys of one
kind are refused with the other, so that nothing in the file is silently ignored. Secrets (a NATS
password or token) are never in the file: ``password_env`` / ``password_file`` and
``token_env`` / ``token_file`` name where they are, read when the queue opens
(:mod:`crmsync.connectors.secrets`). An NKey seed or a ``.creds`` file is named by its path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from crmsync.connectors.secrets import EnvName, RefusedSecret, secret_sources

__all__ = ["NatsTls", "QueueConfig", "QueueKind"]

QueueKind = Literal["sqlite", "nats"]

#: The keys of each kind (``max_deliver`` is common to both).
_SQLITE_KEYS = ("path",)
_NATS_KEYS = (
    "url",
    "stream",
    "replicas",
    "tls",
    "user",
    "password_env",
    "password_file",
    "token_env",
    "token_file",
    "nkey_seed_file",
    "creds_file",
)
_STREAM = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def _server_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("nats", "tls") or not parts.hostname:
        raise ValueError(f"'{value}' is not a NATS server URL: nats://HOST:PORT or tls://HOST:PORT")
    if parts.username or parts.password:
        raise ValueError(
            "a NATS URL must not carry credentials: use 'user' with 'password_env' or "
            "'password_file', 'token_env', 'token_file', 'nkey_seed_file' or 'creds_file'"
        )
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(f"'{value}' must be a server address only (no path or query)")
    return f"{parts.scheme}://{parts.netloc}"


def _one_or_many(value: object) -> object:
    return (value,) if isinstance(value, str) else value


ServerUrl = Annotated[str, AfterValidator(_server_url)]


class NatsTls(BaseModel):
    """TLS to the NATS servers. Verification is always on: the public CAs are trusted, and
    ``ca_file``'s too; ``cert_file`` and ``key_file`` are a client certificate (mutual TLS)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("'cert_file' and 'key_file' go together")
        return self


class QueueConfig(BaseModel):
    # A refused clear-text secret must not be echoed by the error that refuses it.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    #: The secrets of a NATS queue, each given by ``<name>_env`` or ``<name>_file``.
    secrets: ClassVar[tuple[str, ...]] = ("password", "token")

    #: ``sqlite``: one machine, one file; ``nats``: several processes over a PostgreSQL store.
    kind: QueueKind = "sqlite"
    #: Deliveries after which an unacknowledged message becomes a dead letter.
    max_deliver: Annotated[int, Field(ge=1, le=1000)] = 20

    #: sqlite: the queue's database file.
    path: Path = Path("crmsync-queue.db")

    #: nats: one server URL or a list of them (one cluster).
    url: Annotated[tuple[ServerUrl, ...], BeforeValidator(_one_or_many)] = ()
    #: nats: the JetStream stream (made by ``crmsync queue init``).
    stream: Annotated[str, Field(pattern=_STREAM.pattern)] = "CRMSYNC"
    #: nats: copies of the stream in a JetStream cluster (used when the stream is made).
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    tls: NatsTls | None = None
    user: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    password_env: EnvName | None = None
    password_file: Path | None = None
    token_env: EnvName | None = None
    token_file: Path | None = None
    #: A file holding the user's NKey seed.
    nkey_seed_file: Path | None = None
    #: A ``.creds`` file (JWT and NKey seed), as ``nsc`` writes them.
    creds_file: Path | None = None
    password: RefusedSecret = None
    token: RefusedSecret = None

    @model_validator(mode="after")
    def _keys_of_the_kind(self) -> Self:
        given = self.model_fields_set
        others = _NATS_KEYS if self.kind == "sqlite" else _SQLITE_KEYS
        fields = type(self).model_fields
        for key in others:
            # A key at its default value says nothing (a dumped configuration holds them all).
            if key in given and getattr(self, key) != fields[key].get_default(
                call_default_factory=True
            ):
                other = "nats" if self.kind == "sqlite" else "sqlite"
                raise ValueError(f"'{key}' goes with 'kind: {other}'")
        if self.kind == "nats":
            self._check_nats()
        return self

    def _check_nats(self) -> None:
        if not self.url:
            raise ValueError("'kind: nats' needs 'url': nats://HOST:PORT, or a list of them")
        if len({urlsplit(url).scheme for url in self.url}) > 1:
            raise ValueError("every NATS URL must use the same scheme (nats:// or tls://)")
        for name in self.secrets:
            if all(source is not None for source in secret_sources(self, name)):
                raise ValueError(f"give one of '{name}_env' and '{name}_file', not both")
        ways = [
            self.user is not None or self.has_secret("password"),
            self.has_secret("token"),
            self.nkey_seed_file is not None,
            self.creds_file is not None,
        ]
        if sum(ways) > 1:
            raise ValueError(
                "give one way to sign in to NATS: 'user' with a password, a token, "
                "'nkey_seed_file' or 'creds_file'"
            )
        if (self.user is None) != (not self.has_secret("password")):
            raise ValueError("'user' and 'password_env' or 'password_file' go together")
        sent_in_clear = self.user is not None or self.has_secret("token")
        if sent_in_clear and not self.uses_tls:
            raise ValueError(
                "a NATS password or token would cross the network in clear text: "
                "use tls:// URLs (or sign in with 'nkey_seed_file' or 'creds_file')"
            )

    @property
    def uses_tls(self) -> bool:
        """TLS is required of the servers: ``tls://`` URLs or a ``tls`` section."""
        return self.tls is not None or any(url.startswith("tls://") for url in self.url)

    def has_secret(self, name: str) -> bool:
        """Whether a source (variable or file) is named for secret ``name``."""
        return any(source is not None for source in secret_sources(self, name))

    def files(self) -> dict[str, Path]:
        """The NATS files that must exist (certificates, NKey seed, ``.creds``), by key."""
        pairs = (("nkey_seed_file", self.nkey_seed_file), ("creds_file", self.creds_file))
        found = {key: value for key, value in pairs if value is not None}
        if self.tls is not None:
            found |= {f"tls.{key}": value for key, value in self.tls if isinstance(value, Path)}
        return found
