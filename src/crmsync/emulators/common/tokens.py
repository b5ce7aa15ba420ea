"""Opaque bearer tokens for the emulators' OAuth endpoints, expiring on the emulator clock."""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Protocol, Self

from pydantic import SecretStr

from crmsync.emulators.common.clock import Clock

__all__ = ["TokenIssuer", "TokenSettings"]


class TokenSettings(Protocol):
    """The part of an emulator's settings that says who gets tokens, and for how long."""

    @property
    def client_id(self) -> str | None: ...

    @property
    def client_secret(self) -> SecretStr | None: ...

    @property
    def token_lifetime_seconds(self) -> int: ...


@dataclass(slots=True)
class _Grant:
    subject: str
    expires_at: float  # Clock.monotonic() seconds


class TokenIssuer:
    """Issues and checks random access tokens; thread-safe; tokens live in memory only.

    When ``client_id`` (and ``client_secret``) are given, only those credentials get a token;
    otherwise any client does, as in a sandbox. Tokens are never logged.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        lifetime_seconds: int = 3599,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> None:
        if lifetime_seconds <= 0:
            raise ValueError("lifetime_seconds must be positive")
        self._clock = clock
        self._lifetime = lifetime_seconds
        self._client_id = client_id
        self._client_secret = client_secret
        self._grants: dict[str, _Grant] = {}
        self._issued = 0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, clock: Clock, settings: TokenSettings) -> Self:
        """The issuer an emulator's settings describe."""
        secret = settings.client_secret
        return cls(
            clock,
            lifetime_seconds=settings.token_lifetime_seconds,
            client_id=settings.client_id,
            client_secret=secret.get_secret_value() if secret else None,
        )

    @property
    def lifetime_seconds(self) -> int:
        return self._lifetime

    @property
    def restricted(self) -> bool:
        """Whether only configured client credentials are accepted."""
        return self._client_id is not None

    def client_known(self, client_id: str) -> bool:
        """Whether ``client_id`` may ask for tokens at all (any when unrestricted)."""
        return self._client_id is None or hmac.compare_digest(client_id, self._client_id)

    def client_allowed(self, client_id: str, client_secret: str | None) -> bool:
        """Whether these credentials get a token (any when unrestricted).

        ``client_secret`` is ``None`` for certificate (client assertion) authentication; then only
        the client id is checked.
        """
        if not self.client_known(client_id):
            return False
        if self._client_secret is None or client_secret is None:
            return True
        return hmac.compare_digest(client_secret.encode(), self._client_secret.encode())

    def issue(self, subject: str) -> tuple[str, int]:
        """A new token for ``subject``: ``(token, expires_in seconds)``."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._prune()
            self._grants[token] = _Grant(subject, self._clock.monotonic() + self._lifetime)
        return token, self._lifetime

    def verify(self, token: str) -> str | None:
        """The token's subject, or ``None`` when the token is unknown or has expired."""
        with self._lock:
            grant = self._grants.get(token)
            if grant is None:
                return None
            if grant.expires_at <= self._clock.monotonic():
                del self._grants[token]
                return None
            return grant.subject

    def expire_all(self) -> None:
        """Fault injection: every token issued so far becomes expired."""
        with self._lock:
            self._grants.clear()

    def _prune(self) -> None:
        # Sweep expired grants every 1,024 tokens so that a long run does not grow without bound.
        self._issued += 1
        if self._issued % 1024:
            return
        now = self._clock.monotonic()
        for token in [t for t, g in self._grants.items() if g.expires_at <= now]:
            del self._grants[token]
