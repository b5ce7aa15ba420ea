"""A CRM that refuses a Campaign value of a two-way mapping loses nothing: the refusal is a
reject with the CRM's code and message, the Campaign value stays, and it is sent again on the
record's next change or on ``crmsync rejects retry`` (either CRM, SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from twoway_support import Crm, config_text, edit, make_config, profiles, run_once, running_crm
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.emulators.common.faults import Fault
from crmsync.emulators.common.tls import TlsFiles

TOO_LONG = "W" * 60  # longer than either CRM's first name takes (Dataverse 50, Salesforce 40)


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(request.param, tls, contacts=4) as running:
        yield running


def _cli(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(app, list(args), env={"CRMSYNC_TEST_SECRET": "twoway-test-secret"})
    return done.exit_code, done.stdout + done.stderr


async def test_a_refused_value_is_a_reject_and_stays_until_a_valid_edit(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    config = make_config(crm, tmp_path, store_location)
    path = tmp_path / "crmsync.yaml"
    path.write_text(config_text(crm, tmp_path, store_location), encoding="utf-8")
    await run_once(config)
    first, _, city = crm.fields
    record_id = sorted(await crm.records())[0]
    before = (await crm.records())[record_id]
    edit(config, record_id, first_name=TOO_LONG)
    await run_once(config)

    assert (await crm.records())[record_id][first] == before[first]
    assert profiles(config)[record_id]["first_name"] == TOO_LONG
    code, out = _cli("rejects", "list", "--config", str(path), "--json")
    assert code == 0, out
    [reject] = json.loads(out)
    assert (reject["workflow"], reject["mapping"], reject["record_id"]) == (
        "twoway",
        "contacts",
        record_id,
    )
    assert reject["code"]
    assert "length" in reject["message"]  # the CRM's own message: the value is too long
    assert reject["record"]["first_name"] == TOO_LONG

    # The record's next Campaign change sends its values again: a valid one goes through.
    edit(config, record_id, first_name="Valid", city="Namur")
    await run_once(config)
    after = (await crm.records())[record_id]
    assert (after[first], after[city]) == ("Valid", "Namur")


async def test_rejects_retry_sends_a_refused_value_again(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    path = tmp_path / "crmsync.yaml"
    path.write_text(config_text(crm, tmp_path, store_location), encoding="utf-8")
    config = make_config(crm, tmp_path, store_location)
    await run_once(config)
    _, _, city = crm.fields
    record_id = sorted(await crm.records())[1]
    # The CRM refuses the next write once, as a validation rule would.
    if crm.kind == "dataverse":
        crm.emulator.faults.add(Fault("batch_item", status=400))
    else:
        crm.emulator.faults.add(Fault("status", status=400, method="PATCH", path="/sobjects/"))
    edit(config, record_id, city="Refused once")
    await run_once(config)
    assert (await crm.records())[record_id][city] != "Refused once"
    code, out = _cli("rejects", "list", "--config", str(path), "--mapping", "contacts", "--json")
    assert [r["record_id"] for r in json.loads(out)] == [record_id]

    code, out = _cli("rejects", "retry", "--config", str(path), "--mapping", "contacts")
    assert code == 0, out
    assert "contacts: 1 record(s) queued" in out
    await run_once(config)
    assert (await crm.records())[record_id][city] == "Refused once"
    code, out = _cli("rejects", "list", "--config", str(path), "--json")
    assert json.loads(out) == []


async def test_retry_refuses_a_mapping_that_is_not_two_way(crm: Crm, tmp_path: Path) -> None:
    store = (f"sqlite:///{tmp_path / 'store.db'}", None)
    text = config_text(crm, tmp_path, store).replace("two_way: true", "two_way: false")
    path = tmp_path / "crmsync.yaml"
    path.write_text(text, encoding="utf-8")
    code, out = _cli("rejects", "retry", "--config", str(path), "--mapping", "contacts")
    assert code == 1
    assert "not two-way" in out
    code, out = _cli("rejects", "retry", "--config", str(path), "--mapping", "nope")
    assert code == 1
    assert "no inbound mapping 'nope'" in out
