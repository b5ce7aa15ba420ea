"""``/api/users``: users, roles, passwords and API tokens (admins only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, status

from crmsync.api.auth import Admin, acting
from crmsync.api.deps import Users
from crmsync.api.models import problem
from crmsync.api.services.users import NewToken, TokenOut, UserChange, UserIn, UserOut
from crmsync.api.users import Role
from crmsync.audit import Action, Actor

router = APIRouter(prefix="/api/users", tags=["users"])

UserName = Annotated[str, Path(max_length=255)]
TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: problem("no such user")}
_REFUSED: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    409: problem("the last admin, or yourself"),
}


@router.get("", operation_id="list_users", response_model=list[UserOut])
def list_users(_user: Admin, service: Users) -> list[UserOut]:
    return service.list()


@router.post(
    "",
    operation_id="create_user",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: problem("the user exists")},
)
def create_user(
    new: UserIn, by: Annotated[Actor, acting(Role.ADMIN, Action.USER_CREATE)], service: Users
) -> UserOut:
    """A new user with a role and a password (at least 8 characters)."""
    return service.create(new, by=by)


@router.patch("/{name}", operation_id="update_user", response_model=UserOut, responses=_REFUSED)
def update_user(
    name: UserName,
    change: UserChange,
    by: Annotated[Actor, acting(Role.ADMIN, Action.USER_UPDATE)],
    service: Users,
) -> UserOut:
    """Change the role and/or the password."""
    return service.change(name, change, by=by)


@router.delete(
    "/{name}",
    operation_id="delete_user",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_REFUSED,
)
def delete_user(
    name: UserName, by: Annotated[Actor, acting(Role.ADMIN, Action.USER_DELETE)], service: Users
) -> None:
    """Remove the user and their tokens (not yourself, not the last admin)."""
    service.delete(name, by=by)


@router.get(
    "/{name}/tokens",
    operation_id="list_tokens",
    response_model=list[TokenOut],
    responses=_NOT_FOUND,
)
def list_tokens(name: UserName, _user: Admin, service: Users) -> list[TokenOut]:
    return service.tokens(name)


@router.post(
    "/{name}/tokens",
    operation_id="create_token",
    response_model=NewToken,
    status_code=status.HTTP_201_CREATED,
    responses=_NOT_FOUND,
)
def create_token(
    name: UserName, by: Annotated[Actor, acting(Role.ADMIN, Action.TOKEN_CREATE)], service: Users
) -> NewToken:
    """A new API token of the user, shown once in ``token``."""
    return service.new_token(name, by=by)


@router.delete(
    "/{name}/tokens/{token_id}",
    operation_id="revoke_token",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: problem("no such user or token")},
)
def revoke_token(
    name: UserName,
    token_id: TokenId,
    by: Annotated[Actor, acting(Role.ADMIN, Action.TOKEN_REVOKE)],
    service: Users,
) -> None:
    service.revoke_token(name, token_id, by=by)
