"""The inbound engine's main path with the Campaign store on PostgreSQL: initial load of contacts
and linked subscriptions, then live changes. Skips when PostgreSQL is unreachable, except in CI
(``CI=true``), where that is a failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
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
