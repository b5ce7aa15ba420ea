"""The outbound workflow against both emulators: each type, switches, skips, rejects, replays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from events_support import ENV, Crm, add_profiles, make_config, make_event

from crmsync.config.models import Config
from crmsync.events import record_events
from crmsync.events.outbound import OutboundWorkflow, lifetime_counts
from crmsync.events.runner import open_outbound
from crmsync.events.tables import EVENT_TABLES
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for

TYPES = ("send", "open", "click", "bounce")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


async def run_once(config: Config) -> OutboundWorkflow:
    async with open_outbound(config, environ=ENV) as workflow:
        await workflow.run(once=True)
        return workflow


def outcomes(engine: sa.Engine, type_: str) -> dict[str, str | None]:
    table = EVENT_TABLES[type_]  # type: ignore[index]
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(table.c.event_id, table.c.outcome)).all())


async def test_each_type_is_written_linked_to_the_contact_and_unlinked_profiles_skipped(
    crm: Crm, store: sa.Engine, tmp_path: Path
) -> None:
    contacts = await crm.contact_ids()
    linked, other, unlinked = add_profiles(store, [contacts[0], contacts[1], None])
    events = []
    for type_ in TYPES:
        events += [
            make_event(type_, f"{type_}-1", linked),
            make_event(type_, f"{type_}-2", other, minutes=5),
            make_event(type_, f"{type_}-3", unlinked),
        ]
    events.append(make_event("bounce", "bounce-4", linked, bounce_type="soft", reason=None))
    record_events(store, events)

    workflow = await run_once(make_config(crm, tmp_path))

    assert workflow.counts.as_dict() | {"crm_calls": 0} == {
        "read": 13,
        "written": 9,
        "skipped_no_crm_id": 4,
        "rejected": 0,
        "crm_calls": 0,
    }
    assert workflow.counts.crm_calls >= 4
    assert await workflow.backlog() == 0
    for type_ in TYPES:
        written = await crm.events(type_)
        expected = [f"{type_}-1", f"{type_}-2"] + (["bounce-4"] if type_ == "bounce" else [])
        assert [e["event_id"] for e in written] == expected
        assert [e["contact"] for e in written[:2]] == [contacts[0].lower(), contacts[1].lower()]
        assert all(e["delivery_id"] == "DLV-1" for e in written)
        assert all(e["delivery_name"] == "Spring sale" for e in written)
        assert str(written[1]["occurred_at"]).startswith("2026-05-01T09:05:00")
        assert outcomes(store, type_)[f"{type_}-3"] == "skipped_no_crm_id"
    click = (await crm.events("click"))[0]
    assert click["url"] == "https://shop.example.test/click-1"
    bounces = await crm.events("bounce")
    hard, soft = ("Hard", "Soft") if crm.kind == "salesforce" else (100000000, 100000001)
    assert [b["bounce_type"] for b in bounces] == [hard, hard, soft]
    assert bounces[0]["reason"] == "mailbox unknown"
    stored = lifetime_counts(store)
    assert stored["send"] == {
        "read": 3,
        "written": 2,
        "skipped_no_crm_id": 1,
        "rejected": 0,
        "crm_calls": stored["send"]["crm_calls"],
    }


async def test_switches_off_mean_nothing_flows(crm: Crm, store: sa.Engine, tmp_path: Path) -> None:
    contacts = await crm.contact_ids()
    (linked,) = add_profiles(store, [contacts[0]])
    record_events(store, [make_event(type_, f"{type_}-1", linked) for type_ in TYPES])

    off = make_config(crm, tmp_path, events={})
    workflow = await run_once(off)
    assert workflow.counts.read == 0
    only_opens = make_config(crm, tmp_path, events={"open": True})
    workflow = await run_once(only_opens)

    assert workflow.counts.written == 1
    assert [e["event_id"] for e in await crm.events("open")] == ["open-1"]
    for type_ in ("send", "click", "bounce"):
        assert await crm.events(type_) == []
        assert outcomes(store, type_) == {f"{type_}-1": None}
    assert await workflow.backlog() == 0


async def test_a_replay_writes_each_event_once(crm: Crm, store: sa.Engine, tmp_path: Path) -> None:
    contacts = await crm.contact_ids()
    (linked,) = add_profiles(store, [contacts[0]])
    record_events(store, [make_event("send", f"send-{i}", linked, minutes=i) for i in range(5)])
    config = make_config(crm, tmp_path, batch_size=2)
    await run_once(config)
    first = {e["event_id"] for e in await crm.events("send")}

    # As if the process died after the CRM write and before the events were settled.
    table = EVENT_TABLES["send"]
    with store.begin() as conn:
        conn.execute(sa.update(table).values(sent_at=None, outcome=None))
    record_events(store, [make_event("send", "send-1", linked)])
    workflow = await run_once(config)

    assert workflow.counts.written == 5
    again = await crm.events("send")
    assert [e["event_id"] for e in again] == sorted(first)
    assert len(again) == 5


async def test_a_refused_event_is_stored_as_a_reject(
    crm: Crm, store: sa.Engine, tmp_path: Path
) -> None:
    contacts = await crm.contact_ids()
    missing = (
        "00000000-0000-4000-8000-00000000dead" if crm.kind == "dataverse" else "003000000000DEAD"
    )
    good, gone = add_profiles(store, [contacts[0], missing])
    record_events(store, [make_event("open", "open-1", good), make_event("open", "open-2", gone)])

    workflow = await run_once(make_config(crm, tmp_path, events={"open": True}))

    assert (workflow.counts.written, workflow.counts.rejected) == (1, 1)
    assert outcomes(store, "open") == {"open-1": "written", "open-2": "rejected"}
    (reject,) = StateStore(store).rejects.newest(workflow="outbound")
    assert (reject.mapping, reject.record_id) == ("open", "open-2")
    assert reject.code
    assert await workflow.backlog() == 0
