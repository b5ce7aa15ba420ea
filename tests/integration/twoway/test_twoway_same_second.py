"""A CRM change made within the second of crmsync's own write reaches Campaign.

Salesforce keeps record versions (``SystemModstamp``) in whole seconds: a round of the Campaign →
CRM side that reads a record and writes it within one second leaves a base whose version is also
that of a CRM user's change made in between. The merge of that change must not take it for the
record as the round read it: the field the user changed reaches Campaign, and the field the
round wrote keeps the Campaign value. The emulator's clock is held still, so every CRM change
of the test falls in one second, on either CRM."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from twoway_support import Crm, edit, make_config, profiles, run_once, running_crm

from crmsync.emulators.common.tls import TlsFiles
from crmsync.twoway.push import CampaignPush


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(request.param, tls, contacts=3) as running:
        yield running


async def test_a_crm_change_in_the_second_of_crmsyncs_write_reaches_campaign(
    crm: Crm,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    store_location: tuple[str, str | None],
) -> None:
    config = make_config(crm, tmp_path, store_location)
    await run_once(config)
    _, last, city = crm.fields
    record_id = sorted(await crm.records())[0]
    still = datetime.now(UTC).replace(microsecond=0)
    monkeypatch.setattr(crm.emulator.clock, "now", lambda: still)

    edit(config, record_id, city="Campaign")
    read = CampaignPush._read_crm
    edits = ["Within", "Before"]

    async def read_between_crm_edits(push: CampaignPush, *args: Any) -> Any:
        if edits:  # a CRM change the engine has not read yet: the record's version is its
            await crm.update(record_id, **{last: edits.pop()})
        found = await read(push, *args)
        if edits:  # and one after the round read the record, within the same second
            await crm.update(record_id, **{last: edits.pop()})
        return found

    monkeypatch.setattr(CampaignPush, "_read_crm", read_between_crm_edits)
    await run_once(config)
    monkeypatch.setattr(CampaignPush, "_read_crm", read)
    assert (await crm.records())[record_id][city] == "Campaign"

    await run_once(config)
    await run_once(config)
    crm_side, campaign_side = (await crm.records())[record_id], profiles(config)[record_id]
    assert (crm_side[last], crm_side[city]) == ("Within", "Campaign")
    assert (campaign_side["last_name"], campaign_side["city"]) == ("Within", "Campaign")
