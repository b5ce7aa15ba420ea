"""The REST API (FastAPI): ``create_app(supervisor, users)``; see ``docs/api.md``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crmsync.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # FastAPI and the routes load on first use: commands that only need the users' store
    # (``crmsync user``) do not pay for the web application.
    if name == "create_app":
        from crmsync.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
