"""An unsubscribe imported with ``crmsync events import`` reaches the CRM through optinout."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import yaml
from optout_support import (
    ENV,
    Crm,
    add_profiles,
    make_config,
    profile_table,
    profile_values,
)
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.optout.runner import open_optinout
from crmsync.optout.tables import OUTBOX
from crmsync.store import create_engine_for

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


async def test_imported_unsubscribe_opts_out_in_the_store_and_the_crm(
    crm: Crm, tmp_path: Path
) -> None:
    ids = await crm.load_ids()
    for record_id in ids[:2]:  # whatever the seed drew
        await crm.update(record_id, **{crm.email: False, crm.phone: False})
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        add_profiles(engine, ids[:2], LONG_AGO)
        with engine.connect() as conn:
            profile = profile_table()
            query = sa.select(profile.c.id).where(profile.c.external_id == ids[0])
            profile_id = conn.execute(query).scalar_one()
        config = make_config(crm, tmp_path, "campaign_to_crm")
        config_file = tmp_path / "crmsync.yaml"
        config_file.write_text(yaml.safe_dump(config.model_dump(mode="json", by_alias=True)))
        events = tmp_path / "unsubscribes.csv"
        events.write_text(
            "type,id,profile_id,occurred_at,attributes\n"
            f"unsubscribe,u-1,{profile_id},2026-05-01T09:00:00Z,optout_email\n"
            f"unsubscribe,u-2,{profile_id},yesterday,optout_email\n"
        )

        before = datetime.now(UTC)
        result = CliRunner().invoke(
            app, ["events", "import", str(events), "--config", str(config_file), "--json"]
        )
        assert result.exit_code == 1, result.output
        document = json.loads(result.stdout)
        assert (document["added"], document["opted_out"]) == (1, 1)
        assert [problem["line"] for problem in document["rejected"]] == [3]

        held = profile_values(engine, ids[0])
        assert held["optout_email"] is True
        assert before <= held["optout_email_changed_at"] <= datetime.now(UTC)
        with engine.connect() as conn:
            origins = conn.execute(sa.select(OUTBOX.c.origin, OUTBOX.c.sent_at)).all()
        assert origins == [("unsubscribe", None)]

        async with open_optinout(config, environ=ENV) as workflow:
            counts = await workflow.run(once=True)
        assert counts.crm_written == 1
        email, phone, _modified = await crm.read(ids[0])
        assert (email, phone) == (True, False)
        other_email, _, _ = await crm.read(ids[1])
        assert other_email is False
        with engine.connect() as conn:
            assert conn.execute(sa.select(OUTBOX.c.outcome)).scalars().all() == ["written"]
    finally:
        engine.dispose()
