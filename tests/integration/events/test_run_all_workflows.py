"""``crmsync run --once`` starts every configured workflow side by side; ``crmsync status``
shows each one's backlog."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from events_support import ENV, Crm, add_profiles, config_data, make_event

from crmsync.events import record_events
from crmsync.optout.changes import set_opt_outs
from crmsync.optout.tables import OUTBOX
from crmsync.state import ensure_store_schema
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile

CRMSYNC = [sys.executable, "-m", "crmsync"]
EMAIL_OPT_OUT = {"dataverse": "donotbulkemail", "salesforce": "HasOptedOutOfEmail"}


def crmsync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CRMSYNC, *args],
        env=os.environ | ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_run_once_sends_events_and_opt_outs_and_status_shows_backlogs(
    crm: Crm, tmp_path: Path
) -> None:
    store = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    contacts = asyncio.run(crm.contact_ids())
    (linked,) = add_profiles(store, [contacts[0]])
    record_events(store, [make_event("click", f"click-{i}", linked) for i in range(3)])
    ensure_store_schema(store)
    profile = build_metadata(definitions_with_profile(())).tables["profile"]
    with store.begin() as conn:
        set_opt_outs(conn, profile, contacts[0], {"optout_email": True})
    data = config_data(crm, tmp_path, events={"click": True})
    data["optinout"] = {
        "direction": "campaign_to_crm",
        "connection": "crm",
        "poll_interval_seconds": 0.1,
        "mappings": [{"crm": EMAIL_OPT_OUT[crm.kind], "campaign": "optout_email"}],
    }
    config = tmp_path / "crmsync.yaml"
    config.write_text(json.dumps(data))

    before = crmsync("status", "--config", str(config), "--json")
    assert before.returncode == 0, before.stderr
    backlog = {k: v["backlog"] for k, v in json.loads(before.stdout)["workflows"].items()}
    assert backlog == {"inbound": 0, "outbound": 3, "optinout": 1}

    done = crmsync("run", "--config", str(config), "--once", "--no-progress")
    assert done.returncode == 0, done.stderr

    assert [e["event_id"] for e in asyncio.run(crm.events("click"))] == [
        "click-0",
        "click-1",
        "click-2",
    ]
    with store.connect() as conn:
        assert conn.execute(sa.select(OUTBOX.c.outcome)).scalars().all() == ["written"]
    after = json.loads(crmsync("status", "--config", str(config), "--json").stdout)
    assert {k: v["backlog"] for k, v in after["workflows"].items()} == dict.fromkeys(
        ("inbound", "outbound", "optinout"), 0
    )
    assert after["workflows"]["outbound"]["status"] == "STOPPED"
    assert after["workflows"]["optinout"]["status"] == "STOPPED"
    store.dispose()
