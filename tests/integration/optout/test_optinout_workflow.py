"""The optinout workflow against both emulators: directions, the conflict rule, restarts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from optout_support import (
    ENV,
    Crm,
    add_profiles,
    make_config,
    profile_table,
    profile_values,
)

from crmsync.config import ConfigError
from crmsync.config.models import Config
from crmsync.errors import TransientError
from crmsync.optout.changes import set_opt_outs
from crmsync.optout.runner import open_optinout
from crmsync.optout.tables import LOG, OUTBOX
from crmsync.optout.workflow import OptInOutWorkflow
from crmsync.store import create_engine_for


@pytest.fixture
async def ids(crm: Crm) -> list[str]:
    return await crm.load_ids()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


async def run_once(config: Config) -> OptInOutWorkflow:
    async with open_optinout(config, environ=ENV) as workflow:
        await workflow.run(once=True)
        return workflow


def campaign_change(
    engine: sa.Engine, external_id: str, at: datetime | None = None, **values: bool
) -> None:
    with engine.begin() as conn:
        set_opt_outs(conn, profile_table(), external_id, values, now=at)


def outbox(engine: sa.Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(OUTBOX.c.external_id, OUTBOX.c.outcome).order_by(OUTBOX.c.id))
        return [(e, o) for e, o in rows]


async def test_crm_to_campaign_copies_and_sends_nothing_back(
    crm: Crm, ids: list[str], store: sa.Engine, tmp_path: Path
) -> None:
    add_profiles(store, ids[:2], LONG_AGO)
    config = make_config(crm, tmp_path, "crm_to_campaign")
    await run_once(config)  # the initial snapshot: everything equal
    await crm.update(ids[0], **{crm.email: True})
    workflow = await run_once(config)
    assert workflow.counts.campaign_written == 1
    assert workflow.counts.crm_written == 0
    row = profile_values(store, ids[0])
    assert row["optout_email"] is True
    assert row["optout_email_changed_at"] is not None
    assert outbox(store) == []


async def test_campaign_to_crm_flows_and_is_not_echoed(
    crm: Crm, ids: list[str], store: sa.Engine, tmp_path: Path
) -> None:
    await crm.update(ids[1], **{crm.email: False, crm.phone: False})  # whatever the seed drew
    add_profiles(store, ids[:2], LONG_AGO)
    config = make_config(crm, tmp_path, "bidirectional")
    await run_once(config)
    campaign_change(store, ids[1], optout_phone=True)
    workflow = await run_once(config)
    assert workflow.counts.crm_written == 1
    assert (await crm.read(ids[1]))[:2] == (False, True)
    assert outbox(store) == [(ids[1], "written")]
    # The CRM's change (our own write) comes back through change tracking: nothing to do.
    again = await run_once(config)
    assert (again.counts.crm_written, again.counts.campaign_written) == (0, 0)
    assert profile_values(store, ids[1])["optout_phone"] is True


async def test_newer_campaign_opt_in_beats_an_older_crm_opt_out(
    crm: Crm, ids: list[str], store: sa.Engine, tmp_path: Path
) -> None:
    add_profiles(store, ids[:1], LONG_AGO)
    config = make_config(crm, tmp_path, "bidirectional")
    await run_once(config)
    campaign_change(store, ids[0], LONG_AGO, optout_email=True)
    await crm.update(ids[0], **{crm.email: True})
    _, _, crm_time = await crm.read(ids[0])
    campaign_change(store, ids[0], crm_time + timedelta(seconds=5), optout_email=False)
    await run_once(config)
    assert (await crm.read(ids[0]))[0] is False
    assert profile_values(store, ids[0])["optout_email"] is False


async def test_newer_crm_opt_in_does_not_undo_a_campaign_opt_out(
    crm: Crm, ids: list[str], store: sa.Engine, tmp_path: Path
) -> None:
    add_profiles(store, ids[:1], LONG_AGO)
    config = make_config(crm, tmp_path, "bidirectional")
    await run_once(config)
    campaign_change(store, ids[0], LONG_AGO + timedelta(days=1), optout_email=True)
    await crm.update(ids[0], **{crm.email: False, crm.phone: True})  # CRM record newer
    await run_once(config)
    assert (await crm.read(ids[0]))[:2] == (True, True)
    row = profile_values(store, ids[0])
    assert (row["optout_email"], row["optout_phone"]) == (True, True)
    with store.connect() as conn:
        reasons = {r for (r,) in conn.execute(sa.select(LOG.c.reason))}
    assert "crm_newer_or_equal_opt_out_wins" in reasons


@pytest.mark.parametrize("campaign_value", [True, False])
async def test_equal_times_take_the_crm_branch_opt_out_wins(
    crm: Crm, ids: list[str], store: sa.Engine, tmp_path: Path, campaign_value: bool
) -> None:
    add_profiles(store, ids[:1], LONG_AGO)
    config = make_config(crm, tmp_path, "bidirectional")
    await run_once(config)
    await crm.update(ids[0], **{crm.email: not campaign_value})
    _, _, crm_time = await crm.read(ids[0])
    campaign_change(store, ids[0], crm_time, optout_email=campaign_value)
    await run_once(config)
    assert (await crm.read(ids[0]))[0] is True
    assert profile_values(store, ids[0])["optout_email"] is True


async def test_crm_record_without_profile_and_profile_without_crm_record(
    crm: Crm, ids: list[str], store: sa.Engine, tmp_path: Path
) -> None:
    stranger = str(uuid.uuid4()) if crm.kind == "dataverse" else "003000000000ZZZAAA"
    add_profiles(store, [ids[0], stranger], LONG_AGO)
    config = make_config(crm, tmp_path, "bidirectional")
    await crm.update(ids[1], **{crm.email: True})  # no profile for this contact
    campaign_change(store, stranger, optout_email=True)
    workflow = await run_once(config)
    assert workflow.counts.no_profile == len(ids) - 1
    assert outbox(store) == [(stranger, "crm_record_missing")]
    with store.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(profile_table())).scalar()
    assert count == 2


async def test_a_run_dying_before_the_crm_write_sends_on_restart(
    crm: Crm, ids: list[str], store: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_profiles(store, ids[:1], LONG_AGO)
    config = make_config(crm, tmp_path, "campaign_to_crm")
    campaign_change(store, ids[0], optout_email=True)

    async def broken(self: object, ops: object) -> None:
        raise TransientError("the CRM went away")

    with monkeypatch.context() as patch:
        patch.setattr(OptInOutWorkflow, "_write_crm", broken)
        with pytest.raises(TransientError):
            await run_once(config)
    assert outbox(store) == [(ids[0], None)]
    assert (await crm.read(ids[0]))[0] is False
    await run_once(config)
    assert (await crm.read(ids[0]))[0] is True
    assert outbox(store) == [(ids[0], "written")]


async def test_disabled_moves_nothing(
    crm: Crm, ids: list[str], store: sa.Engine, tmp_path: Path
) -> None:
    add_profiles(store, ids[:2], LONG_AGO)
    config = make_config(crm, tmp_path, "disabled")
    await crm.update(ids[0], **{crm.email: True})
    campaign_change(store, ids[1], optout_phone=True)
    workflow = await run_once(config)
    assert workflow.counts.crm_records == 0
    assert profile_values(store, ids[0])["optout_email"] is False
    assert (await crm.read(ids[1]))[1] is False
    assert outbox(store) == [(ids[1], "direction_off")]


async def test_pairs_the_crm_does_not_have_stop_the_start_at_their_path(
    crm: Crm, tmp_path: Path
) -> None:
    """A configuration file is checked against the CRM when the workflow starts."""
    pairs = [
        {"crm": crm.email + "x", "campaign": "optout_email"},
        {"crm": "Email" if crm.kind == "salesforce" else "emailaddress1", "campaign": "optout_sms"},
    ]
    config = make_config(crm, tmp_path, "bidirectional", mappings=pairs)
    with pytest.raises(ConfigError) as refused:
        async with open_optinout(config, environ=ENV):
            pass
    assert [(issue.path, issue.message) for issue in refused.value.issues] == [
        (
            "optinout.mappings[0].crm",
            f"unknown field '{crm.email}x' of CRM table '{crm.table}' "
            f"(did you mean '{crm.email}'?)",
        ),
        (
            "optinout.mappings[1].crm",
            f"CRM field '{pairs[1]['crm']}' is String: opt-out fields must be Boolean",
        ),
    ]
