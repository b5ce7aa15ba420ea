"""The models of crmsync's own tables, and the stores of the release before schema versions."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from crmsync.api.users import UserStore
from crmsync.audit import tables as audit_tables
from crmsync.events import tables as event_tables
from crmsync.jobs.store import JobStore
from crmsync.optout import tables as optout_tables
from crmsync.privacy import tables as privacy_tables
from crmsync.state import history
from crmsync.state.store import StateStore
from crmsync.state.upgrade import VERSION_TABLE
from crmsync.store import create_engine_for
from crmsync.twoway import tables as twoway_tables
from crmsync.workflows.revisions import RevisionStore

FIXTURES = Path(__file__).parents[2] / "fixtures"
OLD_SQLITE = FIXTURES / "store-before-versions.sqlite"
OLD_POSTGRESQL = FIXTURES / "store-before-versions-postgresql.sql"
#: When the stores of the release before schema versions were filled (their rows' times).
OLD_AT = "2025-01-02T03:04:05+00:00"


def own_models(engine: sa.Engine) -> sa.MetaData:
    """Every model of crmsync's own tables, in one metadata (a module that adds a table to the
    store is listed here, so that the comparison with the migrations covers it)."""
    merged = sa.MetaData()
    for metadata in (
        StateStore(engine).tables.metadata,
        JobStore(engine).t.metadata,
        UserStore(engine).users.metadata,
        RevisionStore(engine).table.metadata,
        event_tables.METADATA,
        optout_tables.METADATA,
        history.METADATA,
        twoway_tables.METADATA,
        audit_tables.METADATA,
        privacy_tables.METADATA,
    ):
        for table in metadata.tables.values():
            table.to_metadata(merged)
    return merged


def schema_differences(engine: sa.Engine) -> list[Any]:
    """What Alembic's comparison finds between the store's tables and the models (the store's
    Campaign tables aside). Server defaults are compared on PostgreSQL only: SQLite's reflection
    of ``DEFAULT ''`` differs from the model's in form, not in value."""
    models = own_models(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": VERSION_TABLE,
                "compare_type": True,
                "compare_server_default": conn.dialect.name == "postgresql",
                "include_name": lambda name, kind, _parent: (
                    kind != "table" or name is None or name.startswith("crmsync_")
                ),
            },
        )
        differences = compare_metadata(context, models)
    # The publish step's record of the resources belongs with the Campaign tables.
    return [d for d in differences if not _is_resources_registry(d)]


def _is_resources_registry(difference: Any) -> bool:
    return (
        isinstance(difference, tuple)
        and difference[0] == "remove_table"
        and difference[1].name == "crmsync_resources"
    )


def open_old_store(kind: str, folder: Path, postgres: tuple[str, str] | None) -> sa.Engine:
    """An engine of a copy of the store made before schema versions, on SQLite (a copy of the
    file in ``folder``) or PostgreSQL (the script loaded into the schema of ``postgres``)."""
    if kind == "sqlite":
        path = folder / "store.db"
        shutil.copyfile(OLD_SQLITE, path)
        return create_engine_for(f"sqlite:///{path}")
    assert postgres is not None
    url, schema = postgres
    engine = create_engine_for(url, schema=schema)
    with engine.begin() as conn:
        conn.exec_driver_sql(OLD_POSTGRESQL.read_text(encoding="utf-8"))
        # The script resets its session settings (the search path among them): start afresh.
    engine.dispose()
    return engine


def store_url(kind: str, folder: Path, postgres: tuple[str, str] | None) -> tuple[str, str | None]:
    """The URL and schema of the store :func:`open_old_store` made."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'store.db'}", None
    assert postgres is not None
    return postgres
