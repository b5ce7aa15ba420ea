"""Publish and fetch+ack throughput of the embedded SQLite change queue.

Changes look like contacts as a connector reads them (a dozen fields, a formatted label)::

    .venv/bin/python -m bench.queue_throughput --messages 1000 --changes 1000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Literal

from crmsync.queue import Change, ChangeMessage, SQLiteQueue


def sample_changes(count: int, offset: int) -> list[Change]:
    return [
        Change(
            "upsert",
            f"{offset + i:08d}-0000-4000-8000-000000000000",
            1_000_000 + offset + i,
            {
                "firstname": "Ada",
                "lastname": f"Lovelace {i}",
                "emailaddress1": f"ada{offset + i}@example.com",
                "telephone1": "+44 20 7946 0000",
                "address1_city": "London",
                "birthdate": "1815-12-10",
                "creditlimit": 1500.5,
                "donotemail": False,
                "numberofchildren": 2,
                "preferredcontactmethodcode": 1,
                "modifiedon": "2026-01-01T12:00:00Z",
                "_parentcustomerid_value": None,
            },
            {"preferredcontactmethodcode": "Any"},
        )
        for i in range(count)
    ]


async def run(
    messages: int, changes: int, batch: int, synchronous: Literal["FULL", "NORMAL"]
) -> None:
    chunk = sample_changes(changes, 0)
    with tempfile.TemporaryDirectory() as tmp:
        queue = SQLiteQueue(Path(tmp) / "queue.db", synchronous=synchronous)
        total = messages * changes
        started = time.perf_counter()
        for start in range(0, messages, batch):
            count = min(batch, messages - start)
            await queue.publish([ChangeMessage("contacts", chunk) for _ in range(count)])
        publish_s = time.perf_counter() - started
        size = (Path(tmp) / "queue.db").stat().st_size + (Path(tmp) / "queue.db-wal").stat().st_size

        started = time.perf_counter()
        fetched = 0
        while deliveries := await queue.fetch(max_messages=batch):
            fetched += sum(len(d.message.changes) for d in deliveries)
            await queue.ack(deliveries)
        consume_s = time.perf_counter() - started
        await queue.aclose()
    assert fetched == total, (fetched, total)
    print(f"synchronous={synchronous}, {messages} messages x {changes} changes, batch {batch}")
    print(f"  files: {size / 1e6:.0f} MB")
    print(f"  publish:     {total / publish_s:>10,.0f} changes/s ({publish_s:.2f} s)")
    print(f"  fetch + ack: {total / consume_s:>10,.0f} changes/s ({consume_s:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10, help="messages per publish/fetch call")
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.changes, args.batch, args.synchronous))


if __name__ == "__main__":
    main()
