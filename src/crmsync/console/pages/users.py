"""The Users page (admins only): add a user, change a role, remove a user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from crmsync.api.deps import Users
from crmsync.api.services.users import UserChange, UserIn
from crmsync.api.users import Role
from crmsync.console.forms import form_fields
from crmsync.console.session import Admin, Caller
from crmsync.console.templating import message, render
from crmsync.errors import CrmsyncError

router = APIRouter()

_Name = Annotated[str, Path(max_length=255)]


def _table(request: Request, caller: Caller, service: Users, **context: Any) -> HTMLResponse:
    return render(request, "_users.html", caller, users=service.list(), roles=list(Role), **context)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, caller: Admin, service: Users) -> HTMLResponse:
    return render(
        request, "users.html", caller, page="users", users=service.list(), roles=list(Role)
    )


@router.post("/users", response_class=HTMLResponse)
async def add_user(request: Request, caller: Admin, service: Users) -> HTMLResponse:
    form = await form_fields(request)
    try:
        new = UserIn.model_validate(
            {key: form.get(key, "") for key in ("name", "role", "password")}
        )
        added = service.create(new, by=caller.actor)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return message(request, f"not added: {where}", status_code=422, kind="error")
    except CrmsyncError as exc:
        return message(request, exc.message, status_code=409, kind="error")
    return _table(request, caller, service, note=f"'{added.name}' added as {added.role.value}")


@router.post("/users/{name}/role", response_class=HTMLResponse)
async def change_role(name: _Name, request: Request, caller: Admin, service: Users) -> HTMLResponse:
    form = await form_fields(request)
    try:
        change = UserChange.model_validate({"role": form.get("role")})
        changed = service.change(name, change, by=caller.actor)
    except ValidationError:
        return message(request, "choose viewer, operator or admin", status_code=422, kind="error")
    except CrmsyncError as exc:
        return message(request, exc.message, status_code=409, kind="error")
    note = f"'{changed.name}' is now {changed.role.value}"
    return _table(request, caller, service, note=note)


@router.post("/users/{name}/delete", response_class=HTMLResponse)
async def delete_user(name: _Name, request: Request, caller: Admin, service: Users) -> HTMLResponse:
    try:
        service.delete(name, by=caller.actor)
    except CrmsyncError as exc:
        return message(request, exc.message, status_code=409, kind="error")
    return _table(request, caller, service, note=f"'{name}' removed")
