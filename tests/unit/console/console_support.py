"""The console over the API's test application (fake workflows, fake CRM, a user per role),
and a browser-like login through the console's form."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx

# The API tests' application builder is shared rather than copied.
sys.path.insert(0, str(Path(__file__).parents[1] / "api"))

from api_support import LEADS, MAPPING, PASSWORD, Api, make_api

__all__ = ["LEADS", "MAPPING", "PASSWORD", "Api", "csrf_of", "log_in", "make_api"]

_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def csrf_of(page: httpx.Response) -> str:
    found = _META.search(page.text)
    assert found is not None, "the page has no CSRF token"
    return found[1]


async def log_in(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    """Log ``name`` in through the login form; the headers htmx sends afterwards."""
    answer = await client.post("/console/login", data={"name": name, "password": PASSWORD})
    assert answer.status_code == 303, answer.text
    page = await client.get(answer.headers["location"])
    assert page.status_code == 200
    return {"X-CSRF-Token": csrf_of(page), "HX-Request": "true"}
