"""Marketing events to each CRM through the outbound workflow, and opt-out change latency.

Each emulator runs in its own process over HTTPS (local CA). This process records ``--events``
events (the four types in equal parts, over 100 profiles linked to CRM contacts), runs the outbound
workflow until nothing is pending and prints events/s and CRM calls per 1,000 events. Then it runs
the optinout workflow (``campaign_to_crm``) and changes ``--changes`` opt-outs one at a time: the
latency is from the Campaign commit to the CRM write having returned (the outbox row settled)::

    .venv/bin/python -m bench.events --events 100000 [--crm dataverse --crm salesforce]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.export_jobs import emulator
from crmsync.config.models import Config
from crmsync.connectors.base import WriteOp
from crmsync.events import Event, record_events
from crmsync.events.runner import open_outbound
from crmsync.optout.changes import set_opt_outs
from crmsync.optout.runner import open_optinout
from crmsync.optout.tables import OUTBOX
from crmsync.runtime.connectors import open_connector
from crmsync.state import ensure_store_schema
from crmsync.store import build_metadata, create_engine_for, definitions_with_profile, publish

ENV = {"BENCH_SECRET": "bench"}
CONTACTS = {"dataverse": ("contact", "lastname"), "salesforce": ("Contact", "LastName")}
OPT_OUT = {"dataverse": "donotbulkemail", "salesforce": "HasOptedOutOfEmail"}
START = datetime(2026, 5, 1, tzinfo=UTC)


def config(kind: str, url: str, ca_file: Path, db: Path) -> Config:
    connection: dict[str, Any] = {
        "kind": kind,
        "url": url,
        "client_id": "bench",
        "client_secret_env": "BENCH_SECRET",
        "ca_bundle": str(ca_file),
    }
    if kind == "dataverse":
        connection |= {"tenant_id": "bench", "authority": f"{url}/bench"}
    return Config.model_validate(
        {
            "connections": {"crm": connection},
            "store": {"url": f"sqlite:///{db}"},
            "outbound": {
                "connection": "crm",
                "events": {"send": True, "open": True, "click": True, "bounce": True},
                "batch_size": 1000 if kind == "dataverse" else 200,
                "poll_interval_seconds": 0.2,
            },
            "optinout": {
                "direction": "campaign_to_crm",
                "connection": "crm",
                "poll_interval_seconds": 0.2,
                "mappings": [{"crm": OPT_OUT[kind], "campaign": "optout_email"}],
            },
        }
    )


async def create_contacts(cfg: Config, kind: str, count: int) -> list[str]:
    table, last_name = CONTACTS[kind]
    connector = open_connector("crm", cfg.connections["crm"], ENV)
    try:
        ops = [WriteOp("create", table, {last_name: f"Bench {n}"}) for n in range(count)]
        results = await connector.write(ops)
    finally:
        await connector.aclose()
    return [str(result.id) for result in results if result.ok]


def seed(engine: sa.Engine, contact_ids: list[str], events: int) -> tuple[sa.Table, list[int]]:
    publish(engine, [])
    profile = build_metadata(definitions_with_profile(())).tables["profile"]
    with engine.begin() as conn:
        ids = [
            int(
                conn.execute(
                    sa.insert(profile)
                    .values(external_id=cid, created_at=START, modified_at=START)
                    .returning(profile.c.id)
                ).scalar_one()
            )
            for cid in contact_ids
        ]
    types = ("send", "open", "click", "bounce")
    batch: list[Event] = []
    for n in range(events):
        kind = types[n % 4]
        details: dict[str, Any] = {}
        if kind == "click":
            details["url"] = f"https://shop.example.test/p/{n}"
        if kind == "bounce":
            details |= {"bounce_type": "soft", "reason": "mailbox full"}
        batch.append(
            Event.model_validate(
                {
                    "type": kind,
                    "id": f"ev-{n:08d}",
                    "profile_id": ids[n % len(ids)],
                    "delivery_id": "DLV-BENCH",
                    "delivery_name": "Bench delivery",
                    "occurred_at": START + timedelta(seconds=n),
                    **details,
                }
            )
        )
        if len(batch) == 10_000:
            record_events(engine, batch)
            batch = []
    record_events(engine, batch)
    return profile, ids


async def outbound(cfg: Config) -> tuple[float, dict[str, int]]:
    async with open_outbound(cfg, environ=ENV) as workflow:
        started = time.perf_counter()
        counts = await workflow.run(once=True)
        return time.perf_counter() - started, counts.as_dict()


async def optout_latency(
    cfg: Config, engine: sa.Engine, profile: sa.Table, contact_ids: list[str], changes: int
) -> list[float]:
    ensure_store_schema(engine)
    stop = asyncio.Event()
    async with open_optinout(cfg, environ=ENV) as workflow:
        task = asyncio.create_task(workflow.run(stop=stop))
        latencies = []
        for n in range(changes):
            external_id = contact_ids[n % len(contact_ids)]
            committed = time.perf_counter()
            with engine.begin() as conn:
                set_opt_outs(conn, profile, external_id, {"optout_email": n % 2 == 0})
                row_id = conn.execute(sa.select(sa.func.max(OUTBOX.c.id))).scalar_one()
            while True:
                with engine.connect() as conn:
                    query = sa.select(OUTBOX.c.sent_at).where(OUTBOX.c.id == row_id)
                    if conn.execute(query).scalar_one() is not None:
                        break
                await asyncio.sleep(0.01)
            latencies.append(time.perf_counter() - committed)
        stop.set()
        await task
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--crm", action="append", choices=sorted(CONTACTS))
    args = parser.parse_args()
    for kind in args.crm or sorted(CONTACTS):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            with emulator(kind, folder) as (url, ca_file):
                cfg = config(kind, url, ca_file, folder / "campaign.db")
                engine = create_engine_for(cfg.store.url)
                contact_ids = asyncio.run(create_contacts(cfg, kind, 100))
                profile, _ids = seed(engine, contact_ids, args.events)
                seconds, counts = asyncio.run(outbound(cfg))
                latencies = asyncio.run(
                    optout_latency(cfg, engine, profile, contact_ids, args.changes)
                )
                engine.dispose()
        calls = counts["crm_calls"]
        p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else latencies[0]
        print(
            f"{kind}: {counts['written']:,} events written in {seconds:.1f} s = "
            f"{counts['written'] / seconds:,.0f} events/s; {calls} CRM calls = "
            f"{calls / (args.events / 1000):.2f} per 1,000 events; opt-out change Campaign → CRM "
            f"over {len(latencies)} changes: p50 {statistics.median(latencies):.2f} s, "
            f"p95 {p95:.2f} s"
        )


if __name__ == "__main__":
    main()
