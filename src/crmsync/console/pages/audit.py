"""The Audit page (admins only): operator actions, newest first, filtered by user, action and
time, a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from crmsync.api.deps import Audit
from crmsync.audit import Action
from crmsync.console.session import Admin
from crmsync.console.templating import render

router = APIRouter()

#: Actions per page.
PAGE = 50
_Text = Annotated[str, Query(max_length=255)]


def _moment(text: str, name: str) -> datetime | None:
    """A time of the form (``datetime-local``: no zone, read as UTC), or ``None`` when empty."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: '{text}' is not a time (2025-01-31T14:30)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    caller: Admin,
    service: Audit,
    user: _Text = "",
    action: Annotated[str, Query(max_length=64)] = "",
    since: _Text = "",
    until: _Text = "",
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> HTMLResponse:
    chosen = {"user": user, "action": action, "since": since, "until": until}
    problem = None
    entries = []
    try:
        start, end = _moment(since, "From"), _moment(until, "Before")
    except ValueError as exc:
        problem = str(exc)
    else:
        entries = await service.entries(
            user=user or None,
            action=action or None,
            since=start,
            until=end,
            limit=PAGE + 1,
            offset=offset,
        )
    more = len(entries) > PAGE
    filters = {key: value for key, value in chosen.items() if value}
    return render(
        request,
        "audit.html",
        caller,
        page="audit",
        status_code=422 if problem else 200,
        chosen=chosen,
        problem=problem,
        actions=[a.value for a in Action],
        entries=entries[:PAGE],
        offset=offset,
        newer=urlencode({**filters, "offset": max(offset - PAGE, 0)}) if offset else None,
        older=urlencode({**filters, "offset": offset + PAGE}) if more else None,
    )
