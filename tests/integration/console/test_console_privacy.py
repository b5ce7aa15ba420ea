"""The console's Privacy page served over HTTP, against the Dataverse emulator over HTTPS, on
SQLite and PostgreSQL: viewers and operators are refused the page and its actions (403); an
admin finds a profile by its email, sees its ids and linked records, and deletes it with a
reason."""

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
    log_in,
    profiles,
    run_once,
    running_crm,
    seed_person,
    served,
)

from crmsync.api.users import Role
from crmsync.emulators.common.tls import TlsFiles, generate


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm("dataverse", tls, contacts=3) as running:
        yield running


async def test_only_an_admin_uses_the_privacy_page(
    crm: Crm, tmp_path: Path, store_location: tuple[str, str | None]
) -> None:
    person, _ = await seed_person(crm)
    setup = Setup.write(crm, tmp_path, store_location)
    await run_once(setup.config)
    profile_id = profiles(setup.config)[person.crm_id]["id"]
    with served(setup) as server:
        for role in (Role.VIEWER, Role.OPERATOR):
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                headers = await log_in(client, role.value)
                assert "/console/privacy" not in (await client.get("/console/workflows")).text
                page = await client.get("/console/privacy")
                assert page.status_code == 403
                refused = await client.post(
                    "/console/privacy/delete",
                    data={"profile_id": str(profile_id), "reason": "r"},
                    headers=headers,
                )
                assert refused.status_code == 403
        assert person.crm_id in profiles(setup.config)

        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            headers = await log_in(client, Role.ADMIN.value)
            page = await client.get("/console/privacy")
            assert page.status_code == 200
            found = await client.post(
                "/console/privacy/lookup",
                data={"kind": "email", "value": person.email.upper()},
                headers=headers,
            )
            assert found.status_code == 200, found.text
            assert person.crm_id in found.text
            assert f'value="{profile_id}"' in found.text
            assert "Linked subscription" in found.text
            unexplained = await client.post(
                "/console/privacy/delete", data={"profile_id": str(profile_id)}, headers=headers
            )
            assert unexplained.status_code == 422
            deleted = await client.post(
                "/console/privacy/delete",
                data={"profile_id": str(profile_id), "reason": "ticket 9"},
                headers=headers,
            )
            assert deleted.status_code == 200, deleted.text
            assert "removed" in deleted.text
            assert person.crm_id not in profiles(setup.config)
            listed = await client.get("/console/privacy")
            assert "ticket 9" in listed.text
            assert person.email not in listed.text
