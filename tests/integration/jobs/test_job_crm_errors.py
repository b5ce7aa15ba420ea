"""The ``process_errors`` switch against both emulators: a whole-call failure of the ``crm`` step
goes to the error output when the switch is on, and fails the run (resumable) when it is off."""

from __future__ import annotations

import pytest
from jobs_support import FIRST, Harness, crm_job

from crmsync.emulators.common.faults import Fault
from crmsync.jobs.runner import RunFailed

READ_PATH = {"dataverse": r"/api/data/v9\.2/contacts", "salesforce": r"/services/data/.*/query"}


def _job(harness: Harness, *, process_errors: bool) -> str:
    d = harness.crm.dialect
    switch = "    process_errors: true\n    on_error: errors\n" if process_errors else ""
    return crm_job(
        harness,
        f"""\
    fields: [{{name: {FIRST[d]}}}]
{switch}  errors:
    kind: wait
    seconds: 0""",
        name="err",
    )


def _refuse_the_next_read(harness: Harness) -> None:
    # A 400 is not transient: the connector does not retry it, the whole call fails.
    fault = Fault(kind="status", status=400, path=READ_PATH[harness.crm.dialect], times=1)
    harness.crm.emulator.faults.add(fault)


async def test_errors_go_to_the_error_output(harness: Harness) -> None:
    _refuse_the_next_read(harness)
    run_id = await harness.run(_job(harness, process_errors=True))
    branch = [s for s in harness.store.steps(run_id) if s.step == "errors"]
    assert len(branch) == 1
    (error,) = branch[0].rows
    assert error["step"] == "read"
    assert error["status"] == 400
    assert error["errorSymbol"]
    assert error["errorMessage"]
    assert harness.crm.emulator.faults.pending() == []


async def test_errors_without_the_switch_fail_the_run(harness: Harness) -> None:
    _refuse_the_next_read(harness)
    with pytest.raises(RunFailed) as failed:
        await harness.run(_job(harness, process_errors=False))
    assert harness.store.steps(failed.value.run_id)[0].error
    # The cause is gone (the fault was used once): the same run resumes and completes.
    resumed = await harness.resume(failed.value.run_id)
    assert resumed == failed.value.run_id
    assert "errors" not in {s.step for s in harness.store.steps(resumed)}
