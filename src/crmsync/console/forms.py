"""Reading the console's HTML forms."""

from __future__ import annotations

from fastapi import Request

__all__ = ["form_fields"]


async def form_fields(request: Request) -> dict[str, str]:
    """The text fields of the submitted form (file parts are ignored: the console has none)."""
    return {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
