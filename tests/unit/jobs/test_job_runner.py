"""The runner with an in-memory connector: transitions, reject and error outputs, the retry
loop, variables, run records and resuming a failed run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.config import Config
from crmsync.connectors.base import (
    ChangePage,
    CrmType,
    FieldInfo,
    Record,
    TableInfo,
    WriteOp,
    WriteResult,
)
from crmsync.errors import TransientError
from crmsync.jobs import ConnectorPool, JobRunner, JobStore, RunFailed, load_job_text
from crmsync.store import create_engine_for, publish

INFO = TableInfo(
    "contact",
    "contacts",
    "contactid",
    "lastname",
    True,
    {
        "contactid": FieldInfo("contactid", CrmType.UNIQUEIDENTIFIER),
        "lastname": FieldInfo("lastname", CrmType.STRING),
        "modifiedon": FieldInfo("modifiedon", CrmType.DATETIME),
    },
)


class FakeCrm:
    """Refuses records whose lastname is 'bad' until ``heal()``; can fail whole calls."""

    def __init__(self) -> None:
        self.written: list[WriteOp] = []
        self.healed = False
        self.fail_calls = 0
        self.wheres: list[str | None] = []

    async def list_tables(self) -> list[str]:
        return ["contact"]

    async def describe(self, table: str) -> TableInfo:
        return INFO

    async def read_all(
        self, table: str, fields: Sequence[str] | None = None, *, where: str | None = None
    ) -> AsyncIterator[list[Record]]:
        self.wheres.append(where)
        yield [
            Record(
                f"00000000-0000-0000-0000-00000000000{n}",
                {"lastname": f"n{n}", "modifiedon": f"2024-01-01T00:00:0{n}Z"},
            )
            for n in range(3)
        ]

    async def track_changes(
        self, table: str, fields: Sequence[str] | None, cursor: str | None
    ) -> AsyncIterator[ChangePage]:
        yield ChangePage([], cursor="c")

    async def write(self, ops: Sequence[WriteOp], *, batch: bool = True) -> list[WriteResult]:
        if self.fail_calls:
            self.fail_calls -= 1
            raise TransientError("service unavailable after retries", status=503)
        out = []
        for op in ops:
            if op.values.get("lastname") == "bad" and not self.healed:
                out.append(WriteResult(False, code="REQUIRED_FIELD_MISSING", message="no"))
            else:
                self.written.append(op)
                out.append(WriteResult(True, id=op.id or "x"))
        return out

    async def aclose(self) -> None:
        return None


@pytest.fixture
def env(tmp_path: Path) -> tuple[JobStore, sa.Engine, FakeCrm]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'c.db'}")
    publish(engine, [])
    return JobStore(engine), engine, FakeCrm()


def _runner(env: tuple[JobStore, sa.Engine, FakeCrm]) -> JobRunner:
    store, engine, crm = env
    return JobRunner(store, engine, ConnectorPool(Config(), connectors={"c": ("dataverse", crm)}))


EXPORT = """
name: exp
steps:
  export:
    kind: crm
    operation: export
    connection: c
    object: contact
    mapping: [{campaign: name, crm: lastname}]
    process_rejects: true
    on_reject: pause
  pause:
    kind: wait
    seconds: 0
    next: again
  again:
    kind: retry
    target: export
    max_attempts: 1
    next: park
  park:
    kind: deduplicate
    keys: [errorSymbol]
"""


async def _start(env: Any, text: str, rows: list[dict[str, Any]]) -> str:
    store = env[0]
    job = load_job_text(text)
    run_id = store.create_run(job.name, "<t>", text, {}, job.first_step)
    from crmsync.jobs.store import dumps

    with store.engine.begin() as conn:
        conn.execute(store.t.steps.update().values(input=dumps(rows)))
    return await _runner(env).resume(run_id)


async def test_reject_branch_waits_and_retries_once_then_gives_up(env: Any) -> None:
    store, _, crm = env
    run_id = await _start(env, EXPORT, [{"name": "good"}, {"name": "bad"}])
    steps = [(s.step, s.status) for s in store.steps(run_id)]
    assert steps == [
        ("export", "done"),
        ("pause", "done"),
        ("again", "done"),
        ("export", "done"),
        ("pause", "done"),
        ("again", "done"),
        ("park", "done"),
    ]
    assert [op.values["lastname"] for op in crm.written] == ["good"]
    assert len(store.rejects(run_id)) == 2  # once per attempt
    park = store.steps(run_id)[-1]
    assert park.rows[0]["errorSymbol"] == "REQUIRED_FIELD_MISSING"
    assert store.run(run_id).status == "succeeded"


async def test_retry_succeeds_when_the_cause_is_gone(env: Any) -> None:
    store, _, crm = env
    text = EXPORT.replace("seconds: 0", "seconds: 0.01")
    crm.healed = False
    original = crm.write

    async def heal_after_first(ops: Sequence[WriteOp], *, batch: bool = True) -> list[WriteResult]:
        result = await original(ops, batch=batch)
        crm.healed = True
        return result

    crm.write = heal_after_first  # type: ignore[method-assign]
    run_id = await _start(env, text, [{"name": "bad"}])
    assert [op.values["lastname"] for op in crm.written] == ["bad"]
    assert [s.step for s in store.steps(run_id)] == ["export", "pause", "again", "export"]
    assert store.steps(run_id)[-1].counts == {"exported": 1, "rejected": 0}


async def test_errors_fail_the_run_and_resume_continues(env: Any) -> None:
    store, _, crm = env
    crm.fail_calls = 1
    text = EXPORT.split("    process_rejects")[0]
    with pytest.raises(RunFailed) as failed:
        await _start(env, text, [{"name": "a"}, {"name": "b"}])
    run_id = failed.value.run_id
    assert store.run(run_id).status == "failed"
    assert store.log_lines(run_id)[0][1] == "error"
    await _runner(env).resume(run_id)
    assert store.run(run_id).status == "succeeded"
    assert [op.values["lastname"] for op in crm.written] == ["a", "b"]


async def test_error_output_when_process_errors_is_on(env: Any) -> None:
    store, _, crm = env
    crm.fail_calls = 1
    text = EXPORT.replace(
        "    process_rejects: true\n",
        "    process_rejects: true\n    process_errors: true\n    on_error: park\n",
    )
    run_id = await _start(env, text, [{"name": "a"}])
    park = [s for s in store.steps(run_id) if s.step == "park"]
    assert park[0].rows == [
        {
            "step": "export",
            "errorSymbol": "TransientError",
            "errorMessage": "service unavailable after retries",
            "status": 503,
        }
    ]
    assert store.run(run_id).status == "succeeded"


def _import_job(settings: str, *, top: str = "") -> str:
    """A job ``imp`` importing the contacts' last names, with the further ``settings`` of its
    step and the ``top`` lines before its steps."""
    return f"""
name: imp
{top}steps:
  read:
    kind: crm
    operation: import
    connection: c
    object: contact
    fields: [{{name: lastname}}]
{settings}"""


async def test_import_variables_and_window(env: Any) -> None:
    store, _, crm = env
    text = _import_job(
        "    filter: [{field: lastname, op: ne, value: {var: who}}]\n    automatic_index: {}\n",
        top="variables: {who: n1}\n",
    )
    job = load_job_text(text)
    store.set_option("LASTIMPORT_imp_read", "2024/01/01 00:00:00")
    run_id = await _runner(env).run(job, text, variables={"who": "n2"})
    assert crm.wheres[-1] is not None
    # The window is read again from the overlap (60 s) before the option's date.
    assert crm.wheres[-1].startswith("lastname ne 'n2' and (modifiedon ge 2023-12-31T23:59:00Z")
    variables = store.variables(run_id)
    assert variables["who"] == "n2"
    assert variables["crmStartImport"] == "2024/01/01 00:00:00"
    assert store.option("LASTIMPORT_imp_read") == variables["crmEndDate"]


INDEXED = _import_job("    automatic_index: {overlap_seconds: 5}\n")


async def test_without_the_crm_clock_the_window_ends_the_overlap_before_crmsyncs(
    env: Any,
) -> None:
    store, engine, crm = env
    now = datetime(2024, 1, 1, 0, 0, 30, 600000, tzinfo=UTC)
    pool = ConnectorPool(Config(), connectors={"c": ("dataverse", crm)})
    runner = JobRunner(store, engine, pool, now=lambda: now)
    store.set_option("LASTIMPORT_imp_read", "2024/01/01 00:00:02")
    run_id = await runner.run(load_job_text(INDEXED), INDEXED)
    # The fake CRM gives no time: the window ends at crmsync's clock minus the overlap.
    assert crm.wheres[-1] == (
        "(modifiedon ge 2023-12-31T23:59:57Z and modifiedon lt 2024-01-01T00:00:25Z)"
    )
    assert store.variables(run_id)["crmEndDate"] == "2024/01/01 00:00:25"
    assert store.steps(run_id)[0].counts == {"read": 3}


async def test_the_index_needs_a_date_time_field(env: Any) -> None:
    text = INDEXED.replace("{overlap_seconds: 5}", "{field: lastname}")
    with pytest.raises(RunFailed, match=r"automatic_index\.field: 'lastname' is a String field"):
        await _runner(env).run(load_job_text(text), text)
