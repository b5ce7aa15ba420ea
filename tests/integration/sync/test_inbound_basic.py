"""The inbound engine end to end over HTTPS: initial load, then live changes through delta links."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from inbound_support import CONTACTS_MAPPING, Crm, make_config, run_once, running_crm, store_rows

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate

FIELDS = ("firstname", "lastname", "emailaddress1", "address1_city")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(tls, contacts=40) as running:
        yield running


async def test_initial_load_then_live_changes_arrive(crm: Crm, tmp_path: Path) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    summary = await run_once(config)
    source = await crm.rows("contact", FIELDS)
    stored = store_rows(config, "profile", "external_id")
    assert set(stored) == set(source)
    for key, values in source.items():
        assert stored[key]["first_name"] == values["firstname"]
        assert stored[key]["email"] == values["emailaddress1"]
        assert stored[key]["origin"] == "crm:dynamics"
    counts = summary.counters["contacts"]
    assert counts.inserted == len(source)
    assert counts.read == len(source)
    assert counts.crm_calls > 0

    first, second = sorted(source)[:2]
    (created,) = await crm.write(
        WriteOp("create", "contact", {"firstname": "Ada", "lastname": "Lovelace"})
    )
    await crm.write(
        WriteOp("update", "contact", {"address1_city": "Reykjavik-42"}, id=first),
        WriteOp("delete", "contact", id=second),
    )
    summary = await run_once(config)
    stored = store_rows(config, "profile", "external_id")
    assert stored[first]["city"] == "Reykjavik-42"
    assert second not in stored
    assert stored[created]["last_name"] == "Lovelace"
    counts = summary.counters["contacts"]
    assert (counts.inserted, counts.updated, counts.deleted) == (1, 1, 1)  # this run's alone


async def test_a_run_without_changes_writes_nothing(crm: Crm, tmp_path: Path) -> None:
    config = make_config(crm, tmp_path, CONTACTS_MAPPING)
    first = (await run_once(config)).counters["contacts"]
    again = (await run_once(config)).counters["contacts"]
    assert first.campaign_writes > 0
    assert (again.campaign_writes, again.read) == (0, 0)
