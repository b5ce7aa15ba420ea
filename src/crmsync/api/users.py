"""Users of the API and the console: names, roles, argon2 password hashes and API tokens.

Passwords are hashed with argon2id (``argon2-cffi``). API tokens are 32 random bytes shown once;
only their SHA-256 is stored: a token carries its full entropy, so a slow hash adds nothing.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from crmsync.errors import ConfigurationError
from crmsync.state.upgrade import ensure_store_schema
from crmsync.store.types import UtcDateTime

__all__ = ["MIN_PASSWORD_LENGTH", "TOKEN_ID_LENGTH", "Role", "TokenInfo", "User", "UserStore"]

TOKEN_PREFIX = "crms_"  # noqa: S105 (a prefix that makes tokens recognisable, not a secret)
MIN_PASSWORD_LENGTH = 8
#: A token is named by the first characters of its hash (never by the token itself).
TOKEN_ID_LENGTH = 16


class Role(StrEnum):
    """SPEC §9: viewers read, operators also start/stop/replay, admins also edit."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        order = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token as it can be shown again: its id (a prefix of its hash), never the token."""

    id: str
    user: str
    created_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """The ``crmsync_users`` and ``crmsync_api_tokens`` tables, upgraded on open."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        clock: Callable[[], datetime] = _utcnow,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.engine = engine
        self._clock = clock
        #: argon2id with the library's (RFC 9106 low-memory) defaults unless one is given.
        self._hasher = hasher or PasswordHasher()
        # Verified against when the user is unknown, so that both cases take as long.
        self._dummy = self._hasher.hash(secrets.token_hex(16))
        metadata = sa.MetaData()
        self.users = sa.Table(
            "crmsync_users",
            metadata,
            sa.Column("name", sa.String(255), primary_key=True),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("password_hash", sa.Text(), nullable=False),
            sa.Column("created_at", UtcDateTime(), nullable=False),
        )
        self.tokens = sa.Table(
            "crmsync_api_tokens",
            metadata,
            sa.Column("token_hash", sa.String(64), primary_key=True),
            sa.Column("user", sa.String(255), nullable=False, index=True),
            sa.Column("created_at", UtcDateTime(), nullable=False),
        )
        ensure_store_schema(engine)

    def add(self, name: str, role: Role, password: str) -> User:
        """Create the user, or replace the role and password of an existing one."""
        if not name or len(name) > 255 or not name.isprintable():
            raise ConfigurationError("a user name is 1 to 255 printable characters")
        values = {
            "role": role.value,
            "password_hash": self._hash(password),
            "created_at": self._clock(),
        }
        t = self.users
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(t).where(t.c.name == name).values(**values))
            if done.rowcount == 0:
                conn.execute(sa.insert(t).values(name=name, **values))
        return User(name, role)

    def _hash(self, password: str) -> str:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ConfigurationError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
        return self._hasher.hash(password)

    def change(self, name: str, *, role: Role | None = None, password: str | None = None) -> bool:
        """Change the role and/or password of user ``name``; ``False`` when there is none."""
        values: dict[str, str] = {}
        if role is not None:
            values["role"] = role.value
        if password is not None:
            values["password_hash"] = self._hash(password)
        t = self.users
        with self.engine.begin() as conn:
            if not values:
                return conn.execute(sa.select(t.c.name).where(t.c.name == name)).first() is not None
            return conn.execute(sa.update(t).where(t.c.name == name).values(**values)).rowcount > 0

    def get(self, name: str) -> User | None:
        t = self.users
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.c.name, t.c.role).where(t.c.name == name)).first()
        return None if row is None else User(row.name, Role(row.role))

    def list(self) -> list[User]:
        t = self.users
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.name, t.c.role).order_by(t.c.name))
            return [User(row.name, Role(row.role)) for row in rows]

    def remove(self, name: str) -> bool:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(self.tokens).where(self.tokens.c.user == name))
            return conn.execute(sa.delete(self.users).where(self.users.c.name == name)).rowcount > 0

    def verify(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else ``None``."""
        t = self.users
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.name == name)).first()
        stored = row.password_hash if row is not None else self._dummy
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return None if row is None else User(row.name, Role(row.role))

    def new_token(self, name: str) -> str:
        """A new API token of the user (shown once; only its hash is kept)."""
        if self.get(name) is None:
            raise ConfigurationError(f"there is no user '{name}'")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(self.tokens).values(
                    token_hash=_token_hash(token), user=name, created_at=self._clock()
                )
            )
        return token

    @staticmethod
    def token_id(token: str) -> str:
        """The id under which ``token`` is listed."""
        return _token_hash(token)[:TOKEN_ID_LENGTH]

    def list_tokens(self, name: str) -> builtins.list[TokenInfo]:
        """The user's API tokens, oldest first."""
        t = self.tokens
        query = sa.select(t).where(t.c.user == name).order_by(t.c.created_at, t.c.token_hash)
        with self.engine.connect() as conn:
            return [
                TokenInfo(row.token_hash[:TOKEN_ID_LENGTH], row.user, row.created_at)
                for row in conn.execute(query)
            ]

    def revoke(self, name: str, token_id: str) -> bool:
        """Revoke the user's token whose id is ``token_id``; ``False`` when there is none."""
        if len(token_id) != TOKEN_ID_LENGTH:
            return False
        t = self.tokens
        with self.engine.begin() as conn:
            hashes = conn.execute(sa.select(t.c.token_hash).where(t.c.user == name)).scalars()
            found = [h for h in hashes if h[:TOKEN_ID_LENGTH] == token_id]
            if len(found) != 1:
                return False
            conn.execute(sa.delete(t).where(t.c.token_hash == found[0]))
            return True

    def by_token(self, token: str) -> User | None:
        u, t = self.users, self.tokens
        query = (
            sa.select(u.c.name, u.c.role)
            .join(t, t.c.user == u.c.name)
            .where(t.c.token_hash == _token_hash(token))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else User(row.name, Role(row.role))
