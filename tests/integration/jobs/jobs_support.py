"""Helpers shared by the job integration tests: the emulated CRMs and a job harness."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from crmsync.config import Config
from crmsync.connectors.base import Connector
from crmsync.connectors.dataverse import DataverseConnector
from crmsync.connectors.salesforce import SalesforceConnector
from crmsync.emulators.common.server import BackgroundServer
from crmsync.errors import TransientError
from crmsync.jobs import ConnectorPool, JobRunner, JobStore, load_job_text

CLIENT_ID = "6f1c2d4e-0000-4000-8000-00000000j0b5"
SECRET = "jobs-emulator-secret"
#: The variable the connection settings name for the secret, and the environment holding it.
SECRET_ENV = "CRMSYNC_TEST_SECRET"
ENV = {SECRET_ENV: SECRET}
CRMSYNC = [sys.executable, "-m", "crmsync"]


@dataclass
class Crm:
    dialect: str
    emulator: Any
    server: BackgroundServer
    config: Any
    connection: str

    def connect(self) -> Connector:
        if self.dialect == "dataverse":
            return DataverseConnector(self.config, environ=ENV)
        return SalesforceConnector(self.config, environ=ENV)


@dataclass
class Harness:
    crm: Crm
    store: JobStore
    campaign: sa.Engine
    now: datetime | None = None
    #: crmsync's own clock when ``now`` is not set (default: the emulator's clock).
    clock: Callable[[], datetime] | None = None
    #: Wraps the connector of the next runs (e.g. to lose an answer).
    wrap: Any = None

    def runner(self) -> tuple[JobRunner, ConnectorPool]:
        connector = self.crm.connect()
        if self.wrap is not None:
            connector = self.wrap(connector)
        pool = ConnectorPool(
            Config(), connectors={self.crm.connection: (self.crm.dialect, connector)}
        )  # type: ignore[dict-item]
        own = self.clock or self.crm.emulator.clock.now
        clock = (lambda: self.now) if self.now is not None else own
        return JobRunner(self.store, self.campaign, pool, now=clock), pool

    async def run(self, text: str, **variables: str) -> str:
        job = load_job_text(text)
        runner, pool = self.runner()
        try:
            return await runner.run(job, text, variables=variables)
        finally:
            await pool.aclose()

    async def run_with_input(self, text: str, rows: list[dict[str, Any]]) -> str:
        """Run ``text`` with ``rows`` as the first step's input (as an earlier step would)."""
        from crmsync.jobs.store import dumps

        job = load_job_text(text)
        run_id = self.store.create_run(
            job.name, "<test>", text, dict(job.variables), job.first_step
        )
        steps = self.store.t.steps
        with self.store.engine.begin() as conn:
            conn.execute(steps.update().where(steps.c.run_id == run_id).values(input=dumps(rows)))
        return await self.resume(run_id)

    async def resume(self, run_id: str) -> str:
        runner, pool = self.runner()
        try:
            return await runner.resume(run_id)
        finally:
            await pool.aclose()

    async def write(self, ops: list[Any]) -> list[Any]:
        connector = self.crm.connect()
        try:
            return await connector.write(ops)
        finally:
            await connector.aclose()

    async def read(self, table: str, fields: list[str], where: str | None = None) -> list[Any]:
        connector = self.crm.connect()
        try:
            out = []
            async for page in connector.read_all(table, fields, where=where):
                out.extend(page)
            return out
        finally:
            await connector.aclose()


CONTACT = {"dataverse": "contact", "salesforce": "Contact"}
LAST = {"dataverse": "lastname", "salesforce": "LastName"}
FIRST = {"dataverse": "firstname", "salesforce": "FirstName"}
EMAIL = {"dataverse": "emailaddress1", "salesforce": "Email"}
BIRTH = {"dataverse": "birthdate", "salesforce": "Birthdate"}
MODIFIED = {"dataverse": "modifiedon", "salesforce": "SystemModstamp"}
ID = {"dataverse": "contactid", "salesforce": "Id"}


class Interrupted:
    """A connector whose ``call``-th write ends without an answer: after the CRM wrote it
    (``written``) or before the call reached it."""

    def __init__(self, inner: Any, *, call: int, written: bool) -> None:
        self.inner = inner
        self.call = call
        self.written = written
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def write(self, ops: Any, *, batch: bool = True) -> Any:
        self.writes += 1
        if self.writes != self.call:
            return await self.inner.write(ops, batch=batch)
        if self.written:
            await self.inner.write(ops, batch=batch)
        raise TransientError("the connection dropped before the answer arrived")


def crm_job(
    harness: Harness,
    body: str,
    *,
    name: str = "imp",
    step: str = "read",
    operation: str = "import",
) -> str:
    """A job ``name`` whose first step, ``step``, is the ``operation`` of the ``crm`` kind on the
    contacts of ``harness``'s CRM; ``body`` holds the further lines of that step and the steps
    after it."""
    return f"""
name: {name}
steps:
  {step}:
    kind: crm
    operation: {operation}
    connection: {harness.crm.connection}
    object: {CONTACT[harness.crm.dialect]}
{body}
"""


def export_job(crm: Crm, body: str, *, name: str) -> str:
    """A job ``name`` exporting to the contacts of ``crm`` the profiles whose city is the run's
    ``tag`` variable; ``body`` holds the further lines of the ``export`` step (mapping, key,
    batch...) and the steps after it."""
    return f"""
name: {name}
steps:
  select:
    kind: campaign_query
    resource: profile
    filter: [{{field: city, op: eq, value: {{var: tag}}}}]
    next: export
  export:
    kind: crm
    operation: export
    connection: {crm.connection}
    object: {CONTACT[crm.dialect]}
{body}"""


def journal_ok(engine: sa.Engine) -> int:
    """How many records the job journal of ``engine``'s store holds as sent (0 before it
    exists)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("crmsync_job_journal"):
            return 0
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM crmsync_job_journal WHERE status = 'ok'")
            ).scalar_one()
        )


@contextmanager
def crmsync_process(
    args: list[str], cwd: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """``crmsync args`` started in its own process, killed on the way out if still running."""
    process = subprocess.Popen(
        [*CRMSYNC, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def run_crmsync(args: list[str], cwd: Path, env: dict[str, str], *, timeout: float) -> None:
    """Run ``crmsync args`` to its end, which must be a success."""
    done = subprocess.run(
        [*CRMSYNC, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
