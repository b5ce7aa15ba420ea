"""``crmsync privacy delete --crm-delete`` against either CRM's emulator over HTTPS, on SQLite and
PostgreSQL: the CRM record is deleted exactly once even when the process dies right after the
local commit, or right after the CRM answered; running the command again finishes the delete. A
CRM refusal is reported and the local delete stands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from privacy_support import (
    Crm,
    Setup,
    cli,
    delete_json,
    profiles,
    run_once,
    running_crm,
    seed_person,
)

from crmsync.emulators.common.faults import Fault
from crmsync.emulators.common.tls import TlsFiles
from crmsync.privacy import PrivacyService

#: Starts ``crmsync`` with the privacy service ending the process (as SIGKILL would: no clean-up)
#: at one step: ``{step}`` is the method replaced.
LAUNCHER = """
import os
import sys

from crmsync.cli.main import main
from crmsync.privacy.service import PrivacyService


def killed(*args, **kwargs):
    os._exit(137)


PrivacyService.{step} = killed
sys.argv[0] = "crmsync"
main()
"""


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(request.param, tls, contacts=3) as running:
        yield running


def _deletes(crm: Crm) -> int:
    """DELETE requests the CRM carried out (answered with a success)."""
    return sum(
        1
        for entry in crm.emulator.faults.requests.entries()
        if entry.method == "DELETE" and entry.status is not None and entry.status < 300
    )


def _pending(setup: Setup) -> list[str]:
    engine = setup.engine()
    try:
        records = PrivacyService(setup.config, engine).records()
    finally:
        engine.dispose()
    return [r.crm_delete.value for r in records if r.crm_delete is not None]


@pytest.mark.parametrize(
    ("step", "then"),
    [("_send_delete", "deleted"), ("_settle", "not_found")],
    ids=["killed-before-the-crm-call", "killed-after-the-crm-answered"],
)
async def test_the_crm_record_is_deleted_once_across_a_kill(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None], step: str, then: str
) -> None:
    person, _ = await seed_person(crm)
    setup = Setup.write(crm, tmp_path, store_location)
    await run_once(setup.config)
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER.format(step=step), encoding="utf-8")
    crm.emulator.faults.requests.clear()
    args = ("privacy", "delete", "--config", str(setup.path), "--crm-id", person.crm_id)
    args += ("--crm-delete", "--yes", "--json")

    killed = cli(*args, launcher=launcher)

    assert killed.returncode == 137, killed.stderr
    assert person.crm_id not in profiles(setup.config)  # the local delete was committed
    assert _pending(setup) == ["pending"]
    assert (person.crm_id in await crm.records()) is (step == "_send_delete")

    again = delete_json(cli(*args))
    assert again["earlier"] is True
    assert again["crm_delete"] == then
    assert person.crm_id not in await crm.records()
    assert _deletes(crm) == 1

    once_more = delete_json(cli(*args))
    assert once_more["crm_delete"] == then
    assert _deletes(crm) == 1
    assert _pending(setup) == [then]
    # Each time it was asked is an operator action on the one privacy record.
    trail = cli("audit", "--config", str(setup.path), "--action", "privacy.delete", "--json")
    assert trail.returncode == 0, trail.stderr
    assert [entry["target"] for entry in json.loads(trail.stdout)] == [once_more["id"]] * 3


async def test_a_crm_refusal_is_reported_and_the_local_delete_stands(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    person, _ = await seed_person(crm)
    setup = Setup.write(crm, tmp_path, store_location)
    await run_once(setup.config)
    crm.emulator.faults.add(Fault("status", status=403, method="DELETE"))

    result = cli(
        "privacy", "delete", "--config", str(setup.path), "--crm-id", person.crm_id,
        "--crm-delete", "--yes",
    )  # fmt: skip

    assert result.returncode == 3, result.stderr
    assert "the CRM refused" in result.stdout
    assert person.crm_id not in profiles(setup.config)
    assert person.crm_id in await crm.records()
    assert _pending(setup) == ["refused"]
    # The CRM changes the record it kept: crmsync does not bring it back.
    _, _, city = crm.fields
    await crm.update(person.crm_id, **{city: "Kept"})
    await run_once(setup.config)
    assert person.crm_id not in profiles(setup.config)
