"""The running optinout workflow exchanges files at its daily time (injected clock), once a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from optout_support import Crm, add_profiles, make_config, profile_values

from crmsync.optout.workflow import OptInOutWorkflow
from crmsync.store import create_engine_for

DAY = datetime(2026, 5, 1, tzinfo=UTC)


async def test_dropped_file_reaches_the_crm_at_the_daily_time_and_only_once(
    crm: Crm, tmp_path: Path
) -> None:
    ids = await crm.load_ids()
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    folder = tmp_path / "drop"
    (folder / "inbox").mkdir(parents=True)
    (folder / "inbox" / "partner.csv").write_text(
        "external_id,attribute,opted_out,changed_at\n"
        f"{ids[0]},optout_email,true,2026-04-30T18:00:00Z\n"
    )
    config = make_config(
        crm,
        tmp_path,
        "campaign_to_crm",
        file_exchange={"folder": str(folder), "daily_at": "02:00"},
    )
    now = [DAY + timedelta(hours=1, minutes=59)]

    try:
        add_profiles(engine, ids[:2], DAY - timedelta(days=30))
        connector = crm.connector()
        try:
            workflow = OptInOutWorkflow(config, connector, engine, clock=lambda: now[0])
            await workflow.run(once=True)
            assert workflow.counts.crm_written == 0
            assert (folder / "inbox" / "partner.csv").exists()

            now[0] = DAY + timedelta(hours=2, seconds=1)
            await workflow.run(once=True)
            assert workflow.counts.crm_written == 1
        finally:
            await connector.aclose()
        assert profile_values(engine, ids[0])["optout_email"] is True
        email, _phone, _modified = await crm.read(ids[0])
        assert email is True
        assert (folder / "inbox" / "done" / "partner.csv").exists()
        assert len(list(folder.glob("optouts-*.csv"))) == 1

        # A restart later that day does not exchange again; the next day it does.
        (folder / "inbox" / "late.csv").write_text("external_id,attribute,opted_out,changed_at\n")
        connector = crm.connector()
        try:
            restarted = OptInOutWorkflow(config, connector, engine, clock=lambda: now[0])
            now[0] = DAY + timedelta(hours=9)
            await restarted.run(once=True)
            assert (folder / "inbox" / "late.csv").exists()
            now[0] = DAY + timedelta(days=1, hours=2)
            await restarted.run(once=True)
            assert (folder / "inbox" / "done" / "late.csv").exists()
        finally:
            await connector.aclose()
        assert len(list(folder.glob("optouts-*.csv"))) == 2
    finally:
        engine.dispose()
