"""PostgreSQL for the integration tests that need a real server (store, sync state, inbound).

The server is the local one (``CRMSYNC_TEST_POSTGRES_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each test gets a schema of its own, dropped
afterwards. When the server cannot be reached, the tests skip with the reason, except in CI
(``CI=true``), where an unreachable database is a failure: CI must test what it claims to.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.store.engine import create_engine_for

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("CRMSYNC_TEST_POSTGRES_URL", DEFAULT_URL)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        reason = f"PostgreSQL at {engine.url.render_as_string(hide_password=True)} is unreachable"
        if _in_ci():
            pytest.fail(f"{reason} (CI=true requires it): {exc.orig}")
        pytest.skip(f"{reason}; set CRMSYNC_TEST_POSTGRES_URL or start it")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """The name of a fresh, empty schema, dropped (with all it holds) after the test."""
    schema = f"crmsync_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def pg_engine(postgres_url: str, pg_schema: str) -> Iterator[sa.Engine]:
    """An engine made by the store's factory whose search path is a fresh schema."""
    engine = create_engine_for(postgres_url, schema=pg_schema)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, str | None]]:
    """A fresh, empty Campaign store on each database: its URL and PostgreSQL schema (``None``
    on SQLite)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}", None
    else:
        yield request.getfixturevalue("postgres_url"), request.getfixturevalue("pg_schema")


@pytest.fixture
def store_engine(store_location: tuple[str, str | None]) -> Iterator[sa.Engine]:
    """An engine, made by the store's factory, of :func:`store_location`'s store."""
    url, schema = store_location
    engine = create_engine_for(url, schema=schema)
    try:
        yield engine
    finally:
        engine.dispose()
