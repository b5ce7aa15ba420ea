"""The suppression list against either CRM's emulator over HTTPS, on SQLite and PostgreSQL: a job
import does not bring a privacy-deleted profile back; regular deletes (from the CRM, or a job's)
suppress nothing; lifting a suppression (its CRM id, then its email) lets the CRM bring the
person back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from privacy_support import (
    EMAIL,
    ENV,
    Crm,
    Setup,
    cli,
    counters,
    leftovers,
    profiles,
    run_once,
    running_crm,
    seed_person,
)

from crmsync.audit import Actor, Face
from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles
from crmsync.jobs import ConnectorPool, JobRunner, JobStore, load_job_text
from crmsync.privacy import PrivacyService, Target


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(request.param, tls, contacts=3) as running:
        yield running


async def _privacy_delete(setup: Setup, crm_id: str) -> None:
    engine = setup.engine()
    try:
        service = PrivacyService(setup.config, engine, environ=ENV)
        await service.delete_profile(
            Target("crm_id", crm_id), reason="request", by=Actor("test", Face.CLI)
        )
    finally:
        engine.dispose()


async def _run_job(setup: Setup, text: str) -> dict[str, int]:
    """Run the job ``text``; the counts of its last step."""
    engine = setup.engine()
    store = JobStore(engine)
    pool = ConnectorPool(setup.config, environ=ENV)
    try:
        runner = JobRunner(store, engine, pool, now=lambda: datetime.now(UTC))
        run_id = await runner.run(load_job_text(text), text, variables={})
        return store.steps(run_id)[-1].counts
    finally:
        await pool.aclose()
        engine.dispose()


def _import_job(crm: Crm) -> str:
    """Every contact of the CRM into profiles, by CRM id."""
    first, _, _ = crm.fields
    key = "contactid" if crm.kind == "dataverse" else "Id"
    return f"""
name: contacts_in
steps:
  read:
    kind: crm
    operation: import
    connection: crm
    object: {crm.table}
    fields: [{{name: {first}}}, {{name: {EMAIL[crm.kind]}}}]
    next: write
  write:
    kind: update_campaign
    resource: profile
    key: external_id
    fields: {{external_id: {key}, first_name: {first}, email: {EMAIL[crm.kind]}}}
"""


async def test_a_job_import_does_not_bring_a_suppressed_profile_back(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    person, other = await seed_person(crm)
    setup = Setup.write(crm, tmp_path, store_location)
    await run_once(setup.config)
    await _privacy_delete(setup, person.crm_id)

    counts = await _run_job(setup, _import_job(crm))

    assert counts["suppressed"] == 1
    assert person.crm_id not in profiles(setup.config)
    assert other in profiles(setup.config)
    assert leftovers(setup, *person.marks) != []  # the job run's own history holds what it read
    assert not [
        found for found in leftovers(setup, *person.marks) if not found.startswith("crmsync_job_")
    ]


async def test_regular_deletes_suppress_nothing(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    _, other = await seed_person(crm)
    setup = Setup.write(crm, tmp_path, store_location)
    await run_once(setup.config)
    async with crm.connector() as connector:
        [deleted] = await connector.write([WriteOp("delete", crm.table, id=other)])
    assert deleted.ok, deleted
    await run_once(setup.config)
    assert other not in profiles(setup.config)  # the CRM's delete was applied
    remaining = sorted(profiles(setup.config))
    job = f"""
name: forget
steps:
  pick:
    kind: campaign_query
    resource: profile
    filter: [{{field: external_id, op: eq, value: "{remaining[0]}"}}]
    next: drop
  drop:
    kind: update_campaign
    resource: profile
    key: external_id
    operation: delete
"""
    assert (await _run_job(setup, job))["deleted"] == 1

    listed = cli("privacy", "suppressions", "--config", str(setup.path), "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert counters(setup, "contacts")["suppressed"] == 0


async def test_lifting_the_suppressions_lets_the_crm_bring_the_person_back(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    person, _ = await seed_person(crm)
    setup = Setup.write(crm, tmp_path, store_location)
    await run_once(setup.config)
    await _privacy_delete(setup, person.crm_id)
    listed = cli("privacy", "suppressions", "--config", str(setup.path), "--json")
    entries = json.loads(listed.stdout)
    assert {(e["kind"], e["resource"]) for e in entries} >= {
        ("crm_id", "profile"),
        ("email", "profile"),
        ("crm_id", "subscription"),
    }
    assert person.email not in listed.stdout  # the email only as its hash

    lifted = cli(
        "privacy", "unsuppress", "--config", str(setup.path), "--crm-id", person.crm_id,
        "--reason", "erased by mistake", "--json",
    )  # fmt: skip
    assert lifted.returncode == 0, lifted.stderr
    assert json.loads(lifted.stdout)["reason"] == "erased by mistake"
    _, _, city = crm.fields
    await crm.update(person.crm_id, **{city: "Again"})
    await run_once(setup.config)
    assert person.crm_id not in profiles(setup.config)  # its email is still suppressed

    lifted = cli(
        "privacy", "unsuppress", "--config", str(setup.path), "--email", person.email,
        "--reason", "erased by mistake",
    )  # fmt: skip
    assert lifted.returncode == 0, lifted.stderr
    again = cli(
        "privacy", "unsuppress", "--config", str(setup.path), "--email", person.email,
        "--reason", "twice",
    )  # fmt: skip
    assert again.returncode == 1
    assert "not suppressed" in again.stderr
    await crm.update(person.crm_id, **{city: "Back"})
    await run_once(setup.config)
    assert profiles(setup.config)[person.crm_id]["email"] == person.email
