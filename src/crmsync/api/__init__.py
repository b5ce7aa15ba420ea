"""The REST API (FastAPI): ``create_app(supervisor, users)``; see ``docs/api.md``."""

from crmsync.api.app import create_app

__all__ = ["create_app"]
