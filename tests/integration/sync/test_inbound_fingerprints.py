"""Re-reading unchanged records: a replay publishes no message for records whose Campaign row
already holds them (counted as read and unchanged, kept by the snapshot's reconciliation), and
still rewrites rows edited in Campaign since, records changed in the CRM and every row of a
changed mapping. On SQLite and on the local PostgreSQL (which skips when unreachable, except in
CI)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from inbound_support import (
    CONTACTS_MAPPING,
    ENV,
    Crm,
    make_config,
    run_once,
    running_crm,
    store_rows,
)

from crmsync.config.models import Config
from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.store import create_engine_for
from crmsync.sync.engine import InboundEngine, RunSummary
from crmsync.sync.replay import request_replay

FIELDS = ("firstname", "lastname")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(tls, contacts=120, accounts=5, page_size=50) as running:
        yield running


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The Campaign store of a test's configuration (``make_config`` arguments)."""
    if request.param == "sqlite":
        return {}
    return {
        "store_url": request.getfixturevalue("postgres_url"),
        "pg_schema": request.getfixturevalue("pg_schema"),
    }


async def _replay(config: Config) -> tuple[RunSummary, int]:
    """A replay run: its summary and the messages its snapshot published."""
    await request_replay(config, "contacts", limit_backlog=10_000, limit_rows=10_000, environ=ENV)
    async with InboundEngine(config, environ=ENV) as engine:
        before = engine.readers["contacts"]
        published: list[int] = []
        original = before.round

        async def counted_round() -> object:
            result = await original()
            published.append(result.messages)
            return result

        before.round = counted_round  # type: ignore[method-assign]
        summary = await engine.run(once=True)
    return summary, sum(published)


async def test_a_replay_of_unchanged_records_publishes_nothing(
    crm: Crm, tmp_path: Path, store: dict[str, Any]
) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING, **store)
    await run_once(config)
    contacts = await crm.rows("contact", FIELDS)

    summary, messages = await _replay(config)
    counts = summary.counters["contacts"]
    assert messages == 0
    assert (counts.read, counts.unchanged) == (len(contacts), len(contacts))
    assert counts.campaign_writes == 0
    # The snapshot saw every skipped record: its reconciliation removed nothing.
    assert set(store_rows(config, "profile", "external_id")) == set(contacts)


async def test_a_replay_rewrites_what_changed_since(
    crm: Crm, tmp_path: Path, store: dict[str, Any]
) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING, **store)
    await run_once(config)
    edited, changed, gone = sorted(await crm.rows("contact", FIELDS))[:3]
    original = store_rows(config, "profile", "external_id")[edited]["first_name"]
    campaign = create_engine_for(config.store.url, schema=config.store.pg_schema)
    try:
        with campaign.begin() as conn:  # an edit made in Campaign, after the load
            profile = sa.Table("profile", sa.MetaData(), autoload_with=conn)
            conn.execute(
                profile.update()
                .where(profile.c.external_id == edited)
                .values(first_name="Edited", modified_at=datetime.now(UTC) + timedelta(seconds=1))
            )
            conn.execute(profile.delete().where(profile.c.external_id == gone))
    finally:
        campaign.dispose()
    await crm.write(WriteOp("update", "contact", {"firstname": "Renamed"}, id=changed))

    summary, messages = await _replay(config)
    rows = store_rows(config, "profile", "external_id")
    assert rows[edited]["first_name"] == original
    assert rows[changed]["first_name"] == "Renamed"
    assert gone in rows
    assert messages >= 1
    counts = summary.counters["contacts"]
    assert (counts.updated, counts.inserted) == (2, 1)  # edited and changed; gone again


async def test_a_changed_mapping_rewrites_every_row(crm: Crm, tmp_path: Path) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    await run_once(config)
    target = sorted(await crm.rows("contact", FIELDS))[0]
    first_name = store_rows(config, "profile", "external_id")[target]["first_name"]
    replaced = CONTACTS_MAPPING + (
        f"    replacements:\n      - {{field: firstname, from: {first_name!r}, to: Replaced}}\n"
    )
    config = make_config(crm, tmp_path, replaced)

    _, messages = await _replay(config)
    assert messages >= 1
    assert store_rows(config, "profile", "external_id")[target]["first_name"] == "Replaced"
