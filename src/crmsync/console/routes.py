"""Every page of the console, one module per page, in one router."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from crmsync.console.pages import (
    audit,
    conflicts,
    editor,
    jobs,
    login,
    mappings,
    plan,
    privacy,
    rejects,
    revisions,
    settings,
    users,
    workers,
    workflows,
)
from crmsync.console.templating import PREFIX

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/workflows", status_code=303)


@router.get(PREFIX)
def console_home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/workflows", status_code=303)


_PAGES = (
    login,
    workflows,
    workers,
    editor,
    mappings,
    conflicts,
    plan,
    settings,
    jobs,
    rejects,
    revisions,
    users,
    audit,
    privacy,
)
for page in _PAGES:
    router.include_router(page.router, prefix=PREFIX)
