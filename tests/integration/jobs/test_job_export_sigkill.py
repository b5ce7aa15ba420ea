"""An export killed with SIGKILL mid-run, then resumed: the CRM ends with each record exactly
once. The job runs in a separate ``crmsync job run`` process against the emulators of this one."""

from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from jobs_support import (
    CLIENT_ID,
    FIRST,
    LAST,
    SECRET,
    Crm,
    Harness,
    crmsync_process,
    export_job,
    journal_ok,
    run_crmsync,
)
from test_job_crm_export import _crm_rows

from crmsync.emulators.common.tls import TlsFiles
from crmsync.store import create_engine_for, publish
from crmsync.store.writes import upsert_batch

COUNT = 300


def _config(crm: Crm, tls: TlsFiles, db: Path) -> str:
    common = (
        f"    url: {crm.server.url}\n"
        f"    client_id: {CLIENT_ID}\n"
        "    client_secret_env: JOBS_TEST_SECRET\n"
        f"    ca_bundle: {tls.ca}\n"
    )
    extra = f"    authority: {crm.server.url}/jobs\n" if crm.dialect == "dataverse" else ""
    return (
        "version: 1\nconnections:\n"
        f"  {crm.connection}:\n    kind: {crm.dialect}\n{common}{extra}"
        f"store:\n  url: sqlite:///{db}\n"
    )


def _job(crm: Crm) -> str:
    d = crm.dialect
    salesforce = d == "salesforce"
    mapping_key = "      - {campaign: external_id, crm: Customer_Number__c}\n" if salesforce else ""
    key_line = "    key: Customer_Number__c\n" if salesforce else ""
    return export_job(
        crm,
        f"""\
    mapping:
{mapping_key}      - {{campaign: last_name, crm: {LAST[d]}}}
      - {{campaign: first_name, crm: {FIRST[d]}}}
{key_line}    batch: false
""",
        name="killed",
    )


def _run_then_kill(args: list[str], cwd: Path, env: dict[str, str], engine: sa.Engine) -> None:
    """Start the job in its own process; SIGKILL it once a fifth of the records are exported."""
    with crmsync_process(args, cwd, env) as process:
        deadline = time.monotonic() + 60
        while journal_ok(engine) < COUNT // 5:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the export did not start"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


async def test_sigkill_then_resume_exports_each_record_once(
    crm: Crm, tls: TlsFiles, tmp_path: Path, harness: Harness
) -> None:
    d = crm.dialect
    tag = "K" + uuid.uuid4().hex[:10]
    db = tmp_path / "store.db"
    engine = create_engine_for(f"sqlite:///{db}")
    publish(engine, [])
    table = sa.Table("profile", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        upsert_batch(
            conn,
            table,
            "external_id",
            [
                {
                    "external_id": f"{tag}-{n}",
                    "last_name": tag,
                    "first_name": f"P{n:04d}",
                    "birth_date": date(1990, 1, 1),
                    "city": tag,
                }
                for n in range(COUNT)
            ],
            version_field=None,
        )
    (tmp_path / "crmsync.yaml").write_text(_config(crm, tls, db))
    (tmp_path / "job.yaml").write_text(_job(crm))
    env = {**os.environ, "JOBS_TEST_SECRET": SECRET}
    args = ["job", "run", "job.yaml", "--config", "crmsync.yaml", "--var", f"tag={tag}"]
    _run_then_kill(args, tmp_path, env, engine)
    with engine.connect() as conn:
        run_id, status = conn.execute(sa.text("SELECT id, status FROM crmsync_job_runs")).one()
    assert status == "running"
    partial = await _crm_rows(harness, tag)
    assert 0 < len(partial) < COUNT
    # Dataverse: `job resume RUN_ID`; Salesforce: running the job again finishes the same run.
    again = ["job", "resume", run_id, "--config", "crmsync.yaml"] if d == "dataverse" else args
    run_crmsync(again, tmp_path, env, timeout=300)
    rows = await _crm_rows(harness, tag)
    names = sorted(str(r[FIRST[d]]) for r in rows)
    assert names == [f"P{n:04d}" for n in range(COUNT)]  # each exactly once
    with engine.connect() as conn:
        assert conn.execute(
            sa.text("SELECT status FROM crmsync_job_runs")
        ).scalar_one() == (  # one run
            "succeeded"
        )
        assert conn.execute(sa.text("SELECT count(*) FROM crmsync_job_journal")).scalar_one() == 0
    engine.dispose()
