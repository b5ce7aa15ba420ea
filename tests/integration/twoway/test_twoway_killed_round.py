"""A round of the Campaign → CRM side killed after its CRM write and before its store transaction,
while the Campaign edited the record again: the later Campaign edit survives the restart.

The round reads the Campaign row (the first edit), the second edit follows, the round writes the
first edit's value to the CRM and is killed. On restart the base still holds the values from
before the round, but the round kept what it sent (``crmsync_twoway_sent``): the CRM's holding
the first edit's value is crmsync's own write, synced, not a CRM change. The second edit is then
a Campaign change alone, and is sent, whatever the CRM's last-modified time says."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twoway_support import Crm, edit, make_config, profiles, run_once, running_crm

from crmsync.emulators.common.tls import TlsFiles
from crmsync.twoway.push import CampaignPush


class Killed(Exception):
    """Stands for SIGKILL: the round goes no further."""


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(request.param, tls, contacts=3) as running:
        yield running


async def test_an_edit_made_while_a_killed_round_wrote_the_crm_survives(
    crm: Crm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(crm, tmp_path, (f"sqlite:///{tmp_path / 'store.db'}", None))
    await run_once(config)
    _, _, city = crm.fields
    record_id = sorted(await crm.records())[0]
    edit(config, record_id, city="First")
    read = CampaignPush._snapshot

    def read_then_edit(push: CampaignPush, *args: Any) -> Any:
        found = read(push, *args)
        edit(config, record_id, city="Second")  # after the round read the row
        time.sleep(1.1)  # the CRM keeps whole seconds: its write falls in a later one
        return found

    def killed(push: CampaignPush, *args: Any) -> None:
        raise Killed

    monkeypatch.setattr(CampaignPush, "_snapshot", read_then_edit)
    monkeypatch.setattr(CampaignPush, "_commit", killed)
    with pytest.raises(Killed):
        await run_once(config)
    assert (await crm.records())[record_id][city] == "First"  # the round's write was made
    monkeypatch.undo()

    await run_once(config)
    await run_once(config)
    assert (await crm.records())[record_id][city] == "Second"
    assert profiles(config)[record_id]["city"] == "Second"
