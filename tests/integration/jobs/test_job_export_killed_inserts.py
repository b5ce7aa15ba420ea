"""A Salesforce insert export (no key: Salesforce chooses the ids) killed with SIGKILL several
times at random moments, each time resumed with ``crmsync job resume``, on both stores: every
profile ends in the CRM exactly once, and no record is left in doubt.

The job runs in separate ``crmsync`` processes against the session's Salesforce emulator. Some
profiles export identical values, so that the look-up of in-flight creates must count, not just
find."""

from __future__ import annotations

import os
import random
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from jobs_support import (
    CLIENT_ID,
    SECRET,
    Crm,
    crmsync_process,
    export_job,
    journal_ok,
    run_crmsync,
)

from crmsync.emulators.common.tls import TlsFiles
from crmsync.store import create_engine_for, publish
from crmsync.store.writes import upsert_batch

COUNT = 3000
#: Profiles whose exported values repeat those of the profile before them.
TWINS = 40
KILLS = 4


def _config(crm: Crm, tls: TlsFiles, url: str, schema: str | None) -> str:
    pg = f"  pg_schema: {schema}\n" if schema else ""
    return (
        "version: 1\nconnections:\n"
        f"  {crm.connection}:\n    kind: salesforce\n"
        f"    url: {crm.server.url}\n"
        f"    client_id: {CLIENT_ID}\n"
        "    client_secret_env: JOBS_TEST_SECRET\n"
        f"    ca_bundle: {tls.ca}\n"
        f"store:\n  url: {url}\n{pg}"
    )


def _job(crm: Crm) -> str:
    return export_job(
        crm,
        """\
    mapping:
      - {campaign: last_name, crm: LastName}
      - {campaign: first_name, crm: FirstName}
      - {campaign: birth_date, crm: Birthdate}
    batch: true
""",
        name="killed-inserts",
    )


def _first_name(n: int) -> str:
    return f"P{n - 1 if n % (COUNT // TWINS) == 1 else n:05d}"


def _run_until_killed(
    args: list[str], cwd: Path, env: dict[str, str], engine: sa.Engine, rng: random.Random
) -> bool:
    """Run ``crmsync args``; SIGKILL it at a random moment once it has exported some more
    records. ``False`` when it finished before that moment came."""
    with crmsync_process(args, cwd, env) as process:
        target = journal_ok(engine) + rng.randint(1, COUNT // 4)
        deadline = time.monotonic() + 40
        while process.poll() is None and journal_ok(engine) < target:
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"no progress: {process.communicate()[1].decode()[-2000:]}")
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.3))  # anywhere inside a call, or between two
        if process.poll() is not None:
            _, err = process.communicate()
            assert process.returncode == 0, err.decode()
            return False
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        return True


async def test_killed_insert_export_resumes_to_each_record_exactly_once(
    salesforce: Crm, tls: TlsFiles, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    url, schema = store_location
    tag = "I" + uuid.uuid4().hex[:10]
    engine = create_engine_for(url, schema=schema)
    publish(engine, [])
    table = sa.Table("profile", sa.MetaData(), autoload_with=engine)
    names = [_first_name(n) for n in range(COUNT)]
    with engine.begin() as conn:
        upsert_batch(
            conn,
            table,
            "external_id",
            [
                {"external_id": f"{tag}-{n}", "last_name": tag, "first_name": name, "city": tag}
                for n, name in enumerate(names)
            ],
            version_field=None,
        )
    assert len(set(names)) == COUNT - TWINS
    (tmp_path / "crmsync.yaml").write_text(_config(salesforce, tls, url, schema))
    (tmp_path / "job.yaml").write_text(_job(salesforce))
    env = {**os.environ, "JOBS_TEST_SECRET": SECRET}
    rng = random.Random(tag)
    args = ["job", "run", "job.yaml", "--config", "crmsync.yaml", "--var", f"tag={tag}"]
    kills = 0
    while kills < KILLS and _run_until_killed(args, tmp_path, env, engine, rng):
        kills += 1
        with engine.connect() as conn:
            (run_id,) = conn.execute(sa.text("SELECT id FROM crmsync_job_runs")).one()
        args = ["job", "resume", run_id, "--config", "crmsync.yaml"]
    assert kills >= 2, "the export finished before it could be killed twice"
    if kills == KILLS:
        run_crmsync(args, tmp_path, env, timeout=120)
    crm = salesforce.connect()
    try:
        exported = [
            str(record.values["FirstName"])
            async for page in crm.read_all("Contact", ["FirstName"], where=f"LastName = '{tag}'")
            for record in page
        ]
    finally:
        await crm.aclose()
    assert Counter(exported) == Counter(names)  # none lost, none twice
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM crmsync_job_runs")).scalar_one() == (
            "succeeded"
        )
        assert conn.execute(sa.text("SELECT count(*) FROM crmsync_job_rejects")).scalar_one() == 0
    engine.dispose()
