"""A two-way mapping's Conflicts page: the fields changed on both sides, newest first, with both
values and times, the winner and why; filtered by record."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from crmsync.api.deps import Mappings
from crmsync.console.session import Viewer
from crmsync.console.templating import render
from crmsync.errors import CrmsyncError

router = APIRouter()

#: The most conflicts one page shows.
LIMIT = 200


@router.get("/mappings/{name}/conflicts", response_class=HTMLResponse)
async def conflicts_page(
    name: Annotated[str, Path(max_length=255)],
    request: Request,
    caller: Viewer,
    service: Mappings,
    record: Annotated[str, Query(max_length=255)] = "",
) -> HTMLResponse:
    try:
        mapping = service.get(name)
        found = await asyncio.to_thread(
            service.conflicts, name, limit=LIMIT, record_key=record or None
        )
    except CrmsyncError as exc:
        return render(
            request, "not_found.html", caller, status_code=404, page="mappings", text=exc.message
        )
    return render(
        request,
        "conflicts.html",
        caller,
        page="mappings",
        mapping=mapping,
        conflicts=found,
        record=record,
        limit=LIMIT,
    )
