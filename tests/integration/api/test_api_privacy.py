"""``/api/privacy`` served over HTTP, against either CRM's emulator over HTTPS, on SQLite and
PostgreSQL: a viewer or an operator cannot look a profile up, delete it or read the suppression
list (403, nothing changed); an admin looks it up, deletes it with its CRM record, lists the
suppressions and the records, and lifts a suppression."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "privacy"))
from privacy_support import (
    Crm,
    Setup,
    profiles,
    run_once,
    running_crm,
    seed_person,
    served,
    subscriptions,
)

from crmsync.api.users import Role
from crmsync.emulators.common.tls import TlsFiles, generate


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(request.param, tls, contacts=3) as running:
        yield running


async def test_only_an_admin_privacy_deletes(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    person, _ = await seed_person(crm)
    setup = Setup.write(crm, tmp_path, store_location)
    await run_once(setup.config)
    linked = sum(1 for row in subscriptions(setup).values() if row["contact_id"] == person.crm_id)
    named = {"crm_id": person.crm_id}
    with served(setup) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            for role in (Role.VIEWER, Role.OPERATOR):
                auth = server.auth(role)
                calls = [
                    client.post("/api/privacy/lookup", json=named, headers=auth),
                    client.post("/api/privacy/deletes", json=named, headers=auth),
                    client.get("/api/privacy/deletes", headers=auth),
                    client.get("/api/privacy/suppressions", headers=auth),
                    client.post(
                        "/api/privacy/unsuppress", json={**named, "reason": "r"}, headers=auth
                    ),
                ]
                for call in calls:
                    answer = await call
                    assert answer.status_code == 403, answer.text
            assert person.crm_id in profiles(setup.config)

            admin = server.auth(Role.ADMIN)
            found = await client.post("/api/privacy/lookup", json=named, headers=admin)
            assert found.status_code == 200, found.text
            assert found.json()["crm_id"] == person.crm_id
            assert found.json()["linked"] == {"subscription": linked}
            assert person.email not in found.text

            body = {**named, "reason": "ticket 7", "crm_delete": True}
            deleted = await client.post("/api/privacy/deletes", json=body, headers=admin)
            assert deleted.status_code == 200, deleted.text
            record = deleted.json()["record"]
            assert (record["actor"], record["crm_delete"]) == ("token:admin", "deleted")
            assert record["removed"]["subscription"] == linked
            assert person.crm_id not in profiles(setup.config)
            assert person.crm_id not in await crm.records()

            again = await client.post("/api/privacy/deletes", json=body, headers=admin)
            assert again.status_code == 200, again.text
            assert again.json()["earlier"] is True
            missing = await client.post(
                "/api/privacy/deletes", json={"crm_id": "nope"}, headers=admin
            )
            assert missing.status_code == 404

            listed = await client.get("/api/privacy/suppressions", headers=admin)
            keys = {(e["kind"], e["key"]) for e in listed.json()}
            assert ("crm_id", person.crm_id) in keys
            records = await client.get("/api/privacy/deletes", headers=admin)
            assert [r["id"] for r in records.json()] == [record["id"]]
            lifted = await client.post(
                "/api/privacy/unsuppress", json={**named, "reason": "mistake"}, headers=admin
            )
            assert lifted.status_code == 200, lifted.text
            assert lifted.json()["action"] == "unsuppress"
