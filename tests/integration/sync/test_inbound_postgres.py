"""The inbound engine's main path with the Campaign store on PostgreSQL: initial load of contacts
and linked subscriptions, then live changes. Skips when PostgreSQL is unreachable, except in CI
(``CI=true``), where that is a failure."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from inbound_support import (
    CONTACTS_MAPPING,
    SUBSCRIPTION_RESOURCE,
    SUBSCRIPTIONS_MAPPING,
    Crm,
    make_config,
    run_once,
    running_crm,
    store_rows,
)

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def postgres_url() -> str:
    url = os.environ.get("CRMSYNC_TEST_POSTGRES_URL", DEFAULT_URL)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        reason = f"PostgreSQL at {engine.url.render_as_string(hide_password=True)} is unreachable"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason} (CI=true requires it): {exc.orig}")
        pytest.skip(f"{reason}; set CRMSYNC_TEST_POSTGRES_URL or start it")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
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
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crm]:
    tls: TlsFiles = generate([]).write(tmp_path_factory.mktemp("tls"))
    with running_crm(tls, contacts=60, page_size=25) as running:
        yield running


async def test_main_path_on_postgresql(
    crm: Crm, tmp_path: Path, postgres_url: str, pg_schema: str
) -> None:
    config = make_config(
        crm,
        tmp_path,
        CONTACTS_MAPPING + SUBSCRIPTIONS_MAPPING,
        SUBSCRIPTION_RESOURCE,
        store_url=postgres_url,
        pg_schema=pg_schema,
    )
    await run_once(config)
    contacts = await crm.rows("contact", ("firstname",))
    subscriptions = await crm.rows("crmsync_subscription", ("crmsync_name",))
    assert set(store_rows(config, "profile", "external_id")) == set(contacts)
    assert set(store_rows(config, "subscription", "crm_id")) == set(subscriptions)

    first, second = sorted(contacts)[:2]
    await crm.write(
        WriteOp("update", "contact", {"firstname": "Postgres"}, id=first),
        WriteOp("delete", "contact", id=second),
    )
    summary = await run_once(config)
    stored = store_rows(config, "profile", "external_id")
    assert stored[first]["first_name"] == "Postgres"
    assert second not in stored
    children = store_rows(config, "subscription", "crm_id")
    assert all(row["contact_id"] != second for row in children.values())  # cascaded
    assert summary.counters["contacts"].deleted == 1
