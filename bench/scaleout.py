"""Scale-out of an initial load: one reader and 1, 2, 3 writer processes over PostgreSQL, with the
NATS JetStream queue and with the SQLite queue, side by side in one run.

One Dataverse emulator process (``crmsync emulate dataverse --tls``, ``--contacts`` contacts)
serves every configuration. For each queue (``sqlite``, ``nats``) and each writer count of
``--writers``, in an order that alternates which queue goes first, from an empty PostgreSQL schema
and an empty queue (the SQLite queue's file removed; for NATS a ``nats-server -js`` of the
benchmark's own, with a fresh store folder, and its stream made by ``crmsync queue init``), it
starts ``crmsync run --role reader`` and N ``crmsync run --role writer --writer-processes 0``
(each its own process), times them from their start until the store holds every contact (the
count polled every 0.5 s), samples each process, then stops them with SIGTERM and checks the end
state: the store's contact count equals the CRM's (every contact id, read through the connector
before the first configuration), the mapping's ``inserted`` counter equals it too, and nothing
was counted as updated (each record written once).

Per configuration: wall time, records/s, and of each process (the reader, each writer, the NATS
server, the emulator, and the PostgreSQL backends serving the reader and writers, found by their
``application_name``, those connected at the end) CPU µs per record (from /proc, sampled just
before the stop) and peak RSS (the kernel's high-water mark; the emulator's includes its
seeding). Then, at each writer count, NATS over SQLite: wall time, and CPU of all the processes. ::

    .venv/bin/python -m bench.scaleout [--contacts 1000000] [--writers 1,2,3] [--rounds 1]
        [--profile DIR]

The store is the local PostgreSQL (``CRMSYNC_BENCH_POSTGRES_URL``, schema ``crmsync_bench``,
dropped and made again before each configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from bench._emulator_process import dataverse_emulator
from bench._inbound_setup import (
    POSTGRES_URL,
    SECRET,
    SECRET_ENV,
    contact_ids,
    counters,
    cpu_seconds,
    crmsync,
    descendants,
    loaded_postgres,
    peak_rss_mb,
    reset_postgres,
    write_config,
)
from bench._nats_server import nats_server

QUEUES = ("sqlite", "nats")
#: The ``application_name`` of the benchmark's connections to PostgreSQL (libpq reads it from
#: ``PGAPPNAME``), by which their server processes are found.
APP_NAME = "crmsync-bench-scaleout"


@dataclass(frozen=True, slots=True)
class Usage:
    """One process's CPU seconds during a configuration and its peak resident memory."""

    name: str
    cpu_seconds: float
    peak_rss_mb: float


@dataclass(slots=True)
class Result:
    queue: str
    writers: int
    seconds: float = 0.0
    usage: list[Usage] = field(default_factory=list)

    def cpu(self, prefix: str = "") -> float:
        return sum(u.cpu_seconds for u in self.usage if u.name.startswith(prefix))


class Workers:
    """The reader and the writers of one configuration, each a ``crmsync run`` process whose
    standard error goes to a file of its own; with ``profile`` (a folder), each sampled by a
    py-spy attached to it (``py-spy record --pid``, every thread, collapsed stacks, one file per
    process named ``<prefix>-<process>.txt``)."""

    def __init__(
        self, config: Path, folder: Path, writers: int, profile: tuple[Path, str] | None
    ) -> None:
        self.env = {**os.environ, SECRET_ENV: SECRET, "PGAPPNAME": APP_NAME}
        self.logs = folder
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.profilers: list[subprocess.Popen[bytes]] = []
        run = ("run", "--config", str(config), "--no-progress", "--role")
        self._start("reader", crmsync(*run, "reader"))
        for index in range(1, writers + 1):
            self._start(f"writer {index}", crmsync(*run, "writer", "--writer-processes", "0"))
        if profile is not None:
            spy = str(Path(sys.executable).with_name("py-spy"))
            for name, process in self.processes.items():
                target = profile[0] / f"{profile[1]}-{name.replace(' ', '-')}.txt"
                command = [spy, "record", "--pid", str(process.pid), "--threads", "--nonblocking"]
                command += ["--format", "raw", "-o", str(target)]
                self.profilers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))

    def _start(self, name: str, command: list[str]) -> None:
        with (self.logs / f"{name.replace(' ', '-')}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                command, env=self.env, stdout=subprocess.DEVNULL, stderr=log
            )

    def check_running(self) -> None:
        """Raise, with the end of its log, when a process has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                log = (self.logs / f"{name.replace(' ', '-')}.log").read_text()[-2000:]
                raise RuntimeError(f"the {name} exited with {process.returncode}:\n{log}")

    def usage(self) -> list[Usage]:
        return [
            Usage(name, cpu_seconds(p.pid), peak_rss_mb(p.pid))
            for name, p in self.processes.items()
        ]

    def stop(self) -> dict[str, int]:
        """SIGTERM to every process (their profilers stopped first, which writes the
        profiles); their exit codes (a process killed after 60 s: -9)."""
        for profiler in self.profilers:
            profiler.send_signal(signal.SIGINT)
        for profiler in self.profilers:
            profiler.wait(timeout=60)
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        return codes


def postgres_backends() -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL server process serving the benchmark's workers."""
    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            pids = conn.scalars(
                sa.text("select pid from pg_stat_activity where application_name = :name"),
                {"name": APP_NAME},
            ).all()
    finally:
        engine.dispose()
    return {pid: cpu_seconds(pid) for pid in pids}


@contextlib.contextmanager
def queue_server(queue: str) -> Iterator[tuple[str | None, int | None]]:
    """For ``nats``, a fresh server of the benchmark's own (URL, pid); else (None, None)."""
    if queue != "nats":
        yield None, None
        return
    with nats_server() as (url, pid):
        yield url, pid


def wait_loaded(workers: Workers, contacts: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while loaded_postgres() < contacts:
        workers.check_running()
        if time.monotonic() > deadline:
            raise TimeoutError(f"the store did not hold {contacts:,} contacts in {timeout:.0f} s")
        time.sleep(0.5)


def configuration(
    folder: Path, queue: str, writers: int, crm: tuple[str, Path, int], args: argparse.Namespace
) -> Result:
    """One initial load from an empty store and queue (its files in ``folder``), measured,
    stopped and checked."""
    url, ca, emulator = crm
    contacts = args.contacts
    folder.mkdir()
    reset_postgres()
    result = Result(queue, writers)
    with queue_server(queue) as (nats_url, server):
        config = write_config(folder, url, ca, "postgresql", nats=nats_url)
        if nats_url is not None:
            subprocess.run(
                crmsync("queue", "init", "--config", str(config)),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        watched = {"emulator": emulator} | ({"nats-server": server} if server else {})
        before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        started = time.perf_counter()
        profile = args.profile and (args.profile, folder.name)
        workers = Workers(config, folder, writers, profile)
        try:
            wait_loaded(workers, contacts, args.timeout)
            result.seconds = time.perf_counter() - started
            result.usage = workers.usage()
            result.usage += [
                Usage(name, cpu_seconds(pid) - before[name], peak_rss_mb(pid))
                for name, pid in watched.items()
            ]
            backends = postgres_backends()
            result.usage.append(Usage("postgresql", sum(backends.values()), 0.0))
        finally:
            codes = workers.stop()
    failed = {name: code for name, code in codes.items() if code != 0}
    assert not failed, f"stopped with SIGTERM, these exited with: {failed} (logs in {folder})"
    check_end_state(contacts)
    return result


def check_end_state(contacts: int) -> None:
    """Every CRM contact in the store, each inserted once."""
    stored = loaded_postgres()
    counts = counters(POSTGRES_URL, "postgresql")
    assert stored == contacts, f"the store holds {stored:,} contacts, the CRM {contacts:,}"
    assert counts.inserted == contacts, f"inserted counted {counts.inserted:,}, not {contacts:,}"
    assert counts.updated == 0, f"{counts.updated:,} records were written twice"


def emulator_pid() -> int:
    return next(
        pid
        for pid in descendants(os.getpid())
        if b"emulate" in Path(f"/proc/{pid}/cmdline").read_bytes()
    )


def line(result: Result, contacts: int) -> str:
    per = 1e6 / contacts
    usage = {u.name: u for u in result.usage}
    writers = [u for u in result.usage if u.name.startswith("writer")]
    server = usage.get("nats-server")
    return (
        f"{result.queue:<6} {result.writers:>7} {result.seconds:7.1f} "
        f"{contacts / result.seconds:>9,.0f} "
        f"{usage['reader'].cpu_seconds * per:6.0f} "
        f"{'+'.join(f'{w.cpu_seconds * per:.0f}' for w in writers):>12} "
        f"{server.cpu_seconds * per if server else 0:5.0f} "
        f"{usage['postgresql'].cpu_seconds * per:5.0f} "
        f"{usage['emulator'].cpu_seconds * per:5.0f} "
        f"{result.cpu() * per:6.0f}   "
        f"{usage['reader'].peak_rss_mb:6.0f} "
        f"{max(w.peak_rss_mb for w in writers):7.0f} "
        f"{server.peak_rss_mb if server else 0:5.0f} "
        f"{usage['emulator'].peak_rss_mb:8.0f}"
    )


HEADER = (
    "                         records   CPU µs/record"
    "                                     peak RSS MB\n"
    "queue  writers  wall s  per sec  reader      writers  nats    pg   emul  total"
    "   reader writers  nats emulator"
)


def ratios(results: list[Result], writers: list[int]) -> list[str]:
    """NATS over SQLite at each writer count (medians of the rounds)."""
    out = []
    for n in writers:
        runs = {q: [r for r in results if r.queue == q and r.writers == n] for q in QUEUES}
        wall = statistics.median(r.seconds for r in runs["nats"]) / statistics.median(
            r.seconds for r in runs["sqlite"]
        )
        cpu = statistics.median(r.cpu() for r in runs["nats"]) / statistics.median(
            r.cpu() for r in runs["sqlite"]
        )
        out.append(
            f"{n} writer(s): NATS/SQLite wall time {wall:.3f} ({(wall - 1) * 100:+.1f}%),"
            f" records/s {1 / wall:.3f}, CPU of all processes {cpu:.3f}"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--writers", default="1,2,3", help="writer counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="times each configuration runs")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per configuration")
    parser.add_argument(
        "--profile",
        type=Path,
        help="folder for py-spy profiles of the reader and writers (.venv/bin/pip install py-spy)",
    )
    args = parser.parse_args()
    try:
        writers = [int(n) for n in args.writers.split(",")]
    except ValueError:
        parser.error(f"--writers takes writer counts such as 1,2,3, not {args.writers!r}")
    if any(n < 1 for n in writers) or args.rounds < 1 or args.contacts < 1:
        parser.error("--writers, --rounds and --contacts must be at least 1")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    with (
        tempfile.TemporaryDirectory(prefix="crmsync-scaleout-") as tmp,
        dataverse_emulator(contacts=args.contacts, tls_dir=Path(tmp)) as (url, ca),
    ):
        assert ca is not None
        ids = asyncio.run(contact_ids(url, ca))
        assert len(set(ids)) == len(ids) == args.contacts, f"the CRM holds {len(ids):,} contacts"
        crm = (url, ca, emulator_pid())
        load = "/".join(f"{a:.1f}" for a in os.getloadavg())
        print(f"{args.contacts:,} contacts in the CRM, PostgreSQL store; load average {load}")
        print(HEADER, flush=True)
        step = 0
        for _ in range(args.rounds):
            for n in writers:
                # Alternating which queue goes first, so that neither always meets the same noise.
                for queue in QUEUES if step % 2 == 0 else QUEUES[::-1]:
                    folder = Path(tmp) / f"{queue}-{n}-{step}"
                    results.append(configuration(folder, queue, n, crm, args))
                    load = "/".join(f"{a:.1f}" for a in os.getloadavg())
                    print(f"{line(results[-1], args.contacts)}   load {load}", flush=True)
                step += 1
    print("every configuration: store count = CRM count = inserted counter, none updated")
    for text in ratios(results, writers):
        print(text)


if __name__ == "__main__":
    main()
