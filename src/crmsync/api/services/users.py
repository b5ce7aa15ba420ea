"""Users and their API tokens, for admins: the same store as ``crmsync user``.

Two rules keep the server manageable: the last admin cannot be removed or demoted, and nobody
removes themselves.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crmsync.api.errors import Conflict, NotFound
from crmsync.api.users import MIN_PASSWORD_LENGTH, Role, User, UserStore
from crmsync.audit import Action, Actor, recorded

__all__ = [
    "NewToken",
    "TokenOut",
    "UserChange",
    "UserIn",
    "UserOut",
    "UserService",
]

UserName = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)]


class UserOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    role: Role


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: UserName
    role: Role
    password: Password


class UserChange(BaseModel):
    """What to change; a key left out is kept."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    password: Password | None = None


class TokenOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(description="The first characters of the token's SHA-256, to revoke it.")
    user: str
    created_at: datetime


class NewToken(TokenOut):
    token: str = Field(description="The token itself: shown this once, never stored.")


def _out(user: User) -> UserOut:
    return UserOut(name=user.name, role=user.role)


class UserService:
    def __init__(self, users: UserStore) -> None:
        self.users = users

    def list(self) -> list[UserOut]:
        return [_out(user) for user in self.users.list()]

    def get(self, name: str) -> UserOut:
        user = self.users.get(name)
        if user is None:
            raise NotFound(f"there is no user '{name}'", code="UNKNOWN_USER")
        return _out(user)

    def create(self, new: UserIn, *, by: Actor) -> UserOut:
        with recorded(self.users.engine, by, Action.USER_CREATE, new.name, {"role": new.role}):
            if self.users.get(new.name) is not None:
                raise Conflict(f"a user '{new.name}' exists already", code="USER_EXISTS")
            return _out(self.users.add(new.name, new.role, new.password))

    def _other_admins(self, name: str) -> int:
        return sum(1 for u in self.users.list() if u.role is Role.ADMIN and u.name != name)

    def change(self, name: str, change: UserChange, *, by: Actor) -> UserOut:
        """Change the role and/or the password (recorded as whether it changed, never what)."""
        details = {"role": change.role, "password_changed": change.password is not None}
        with recorded(self.users.engine, by, Action.USER_UPDATE, name, details):
            current = self.get(name)
            demoted = current.role is Role.ADMIN and change.role not in (None, Role.ADMIN)
            if demoted and self._other_admins(name) == 0:
                raise Conflict(
                    f"'{name}' is the last admin: make another admin first", code="LAST_ADMIN"
                )
            self.users.change(name, role=change.role, password=change.password)
            return self.get(name)

    def delete(self, name: str, *, by: Actor) -> None:
        with recorded(self.users.engine, by, Action.USER_DELETE, name):
            current = self.get(name)
            if name == by.user:
                raise Conflict("you cannot remove yourself", code="REMOVE_SELF")
            if current.role is Role.ADMIN and self._other_admins(name) == 0:
                raise Conflict(f"'{name}' is the last admin", code="LAST_ADMIN")
            self.users.remove(name)

    def tokens(self, name: str) -> builtins.list[TokenOut]:
        self.get(name)
        return [
            TokenOut(id=t.id, user=t.user, created_at=t.created_at)
            for t in self.users.list_tokens(name)
        ]

    def new_token(self, name: str, *, by: Actor) -> NewToken:
        """A new token of ``name``: the trail keeps its id, never the token."""
        with recorded(self.users.engine, by, Action.TOKEN_CREATE, name) as details:
            self.get(name)
            token = self.users.new_token(name)
            made = self.users.list_tokens(name)
            info = next(t for t in made if t.id == UserStore.token_id(token))
            details["token_id"] = info.id
            return NewToken(id=info.id, user=info.user, created_at=info.created_at, token=token)

    def revoke_token(self, name: str, token_id: str, *, by: Actor) -> None:
        with recorded(self.users.engine, by, Action.TOKEN_REVOKE, name, {"token_id": token_id}):
            self.get(name)
            if not self.users.revoke(name, token_id):
                raise NotFound(f"user '{name}' has no token '{token_id}'", code="UNKNOWN_TOKEN")
