"""Publish and fetch+ack throughput of the change queues, side by side: the embedded SQLite queue
and the NATS JetStream queue.

Changes look like contacts as a connector reads them (a dozen fields, a formatted label)::

    .venv/bin/python -m bench.queue_throughput --messages 1000 --changes 1000 [--backend nats]

For NATS the benchmark starts its own ``nats-server -js`` (``--nats-server``) on a free port with a
store folder in a temporary directory, so that it can also count the server's CPU time (from
/proc); ``--nats-url`` uses a running server instead (its CPU is then not counted). CPU figures
are microseconds per change: this process's (the client), and the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import nats

from bench._nats_server import NATS_SERVER, nats_server
from crmsync.queue import Change, ChangeMessage, ChangeQueue, SQLiteQueue
from crmsync.queue.nats import NatsQueue
from crmsync.queue.nats_connection import NatsConnection
from crmsync.queue.nats_stream import StreamSettings, create_stream

Backend = Literal["sqlite", "nats"]


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


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase's wall time and CPU seconds (this process, the queue's server if known)."""

    seconds: float
    cpu: float
    server_cpu: float | None

    def line(self, name: str, total: int) -> str:
        server = (
            "" if self.server_cpu is None else f", server {self.server_cpu / total * 1e6:.1f} µs"
        )
        return (
            f"  {name:<12} {total / self.seconds:>10,.0f} changes/s ({self.seconds:.2f} s), "
            f"CPU per change: client {self.cpu / total * 1e6:.1f} µs{server}"
        )


def _process_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system) of process ``pid`` so far, from /proc."""
    if pid is None:
        return None
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Clock:
    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid

    def start(self) -> tuple[float, float, float | None]:
        return time.perf_counter(), time.process_time(), _process_cpu(self.server_pid)

    def stop(self, started: tuple[float, float, float | None]) -> Phase:
        wall, cpu, server = started
        now_server = _process_cpu(self.server_pid)
        server_cpu = None if server is None or now_server is None else now_server - server
        return Phase(time.perf_counter() - wall, time.process_time() - cpu, server_cpu)


async def measure(
    queue: ChangeQueue, clock: Clock, messages: int, changes: int, batch: int
) -> tuple[Phase, Phase]:
    chunk = sample_changes(changes, 0)
    started = clock.start()
    for start in range(0, messages, batch):
        count = min(batch, messages - start)
        await queue.publish([ChangeMessage("contacts", chunk) for _ in range(count)])
    publish = clock.stop(started)
    started = clock.start()
    fetched = 0
    while deliveries := await queue.fetch(max_messages=batch):
        fetched += sum(len(d.message.changes) for d in deliveries)
        await queue.ack(deliveries)
    consume = clock.stop(started)
    assert fetched == messages * changes, (fetched, messages * changes)
    return publish, consume


async def run_sqlite(
    messages: int, changes: int, batch: int, synchronous: Literal["FULL", "NORMAL"]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        queue = SQLiteQueue(Path(tmp) / "queue.db", synchronous=synchronous)
        publish, consume = await measure(queue, Clock(None), messages, changes, batch)
        await queue.aclose()
    total = messages * changes
    print(
        f"sqlite, synchronous={synchronous}, {messages} messages x {changes} changes, batch {batch}"
    )
    print(publish.line("publish:", total))
    print(consume.line("fetch + ack:", total))


async def run_nats(
    messages: int, changes: int, batch: int, url: str, server_pid: int | None
) -> None:
    stream = f"CRMSYNC_BENCH_{uuid.uuid4().hex[:8].upper()}"
    client = await nats.connect(url)
    await create_stream(client.jetstream(), StreamSettings(stream))
    try:
        queue = NatsQueue(NatsConnection((url,)), stream)
        publish, consume = await measure(queue, Clock(server_pid), messages, changes, batch)
        await queue.aclose()
    finally:
        await client.jetstream().delete_stream(stream)
        await client.close()
    total = messages * changes
    print(f"nats ({url}), {messages} messages x {changes} changes, batch {batch}")
    print(publish.line("publish:", total))
    print(consume.line("fetch + ack:", total))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10, help="messages per publish/fetch call")
    parser.add_argument("--backend", choices=["sqlite", "nats", "both"], default="both")
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument("--nats-server", default=NATS_SERVER)
    parser.add_argument("--nats-url", help="a running NATS server (default: start one)")
    args = parser.parse_args()
    sizes = (args.messages, args.changes, args.batch)
    if args.backend in ("sqlite", "both"):
        asyncio.run(run_sqlite(*sizes, args.synchronous))
    if args.backend in ("nats", "both"):
        if args.nats_url:
            asyncio.run(run_nats(*sizes, args.nats_url, None))
        else:
            with nats_server(args.nats_server) as (url, pid):
                asyncio.run(run_nats(*sizes, url, pid))


if __name__ == "__main__":
    main()
