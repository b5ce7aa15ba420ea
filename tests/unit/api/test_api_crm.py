"""``/api/crm``: CRM tables and fields from the connector's metadata, cached, errors mapped."""

from __future__ import annotations

import pytest
from api_support import Api

from crmsync.api.errors import CrmFailed
from crmsync.api.services.crm import CrmService
from crmsync.api.users import Role


async def test_tables_with_change_tracking(api: Api) -> None:
    response = await api.client.get("/api/crm/dynamics/tables", headers=api.auth(Role.VIEWER))
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"name": "contact", "label": "Contact", "change_tracking": True},
        {"name": "lead", "label": "Lead", "change_tracking": False},
    ]
    assert api.crm.closed == api.crm.opened == 1


async def test_table_fields_with_keys_and_picklist_values(api: Api) -> None:
    response = await api.client.get(
        "/api/crm/dynamics/tables/contact", headers=api.auth(Role.VIEWER)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["primary_key"] == "contactid"
    assert body["change_tracking"] is True
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["contactid"]["primary_key"] is True
    assert fields["emailaddress1"]["alternate_key"] is True
    assert fields["lastname"]["required"] is True
    assert fields["lastname"]["label"] == "Last Name"
    assert fields["gendercode"]["type"] == "Picklist"
    assert fields["gendercode"]["options"] == [
        {"value": 1, "label": "Male"},
        {"value": 2, "label": "Female"},
    ]


async def test_metadata_is_cached_per_connection(api: Api) -> None:
    viewer = api.auth(Role.VIEWER)
    await api.client.get("/api/crm/dynamics/tables", headers=viewer)
    # The list described every table: the table's own route needs no CRM call.
    await api.client.get("/api/crm/dynamics/tables/contact", headers=viewer)
    await api.client.get("/api/crm/dynamics/tables", headers=viewer)
    assert api.crm.opened == 1
    assert sorted(api.crm.describes) == ["contact", "lead"]


async def test_unknown_connection_and_table_are_404(api: Api) -> None:
    viewer = api.auth(Role.VIEWER)
    unknown = await api.client.get("/api/crm/nope/tables", headers=viewer)
    assert unknown.status_code == 404
    assert "no connection 'nope'" in unknown.json()["detail"]
    assert "dynamics" in unknown.json()["detail"]
    table = await api.client.get("/api/crm/dynamics/tables/account", headers=viewer)
    assert table.status_code == 404
    assert "'account' does not exist" in table.json()["detail"]
    bad = await api.client.get("/api/crm/dynamics/tables/a%20b", headers=viewer)
    assert bad.status_code == 422


async def test_a_crm_failure_is_502_with_the_connectors_message(api: Api) -> None:
    api.crm.down = True
    response = await api.client.get("/api/crm/dynamics/tables", headers=api.auth(Role.VIEWER))
    assert response.status_code == 502
    assert "503 Service Unavailable" in response.json()["detail"]
    assert api.crm.closed == api.crm.opened == 1
    # Nothing was cached: the CRM back up answers.
    api.crm.down = False
    again = await api.client.get("/api/crm/dynamics/tables", headers=api.auth(Role.VIEWER))
    assert again.status_code == 200


@pytest.mark.parametrize("path", ["/api/crm/dynamics/tables", "/api/crm/dynamics/tables/contact"])
async def test_crm_metadata_needs_a_login(api: Api, path: str) -> None:
    assert (await api.client.get(path)).status_code == 401
    assert api.crm.opened == 0


async def test_cached_metadata_expires_after_the_ttl(api: Api) -> None:
    now = [0.0]
    service = CrmService(api.supervisor, opener=api.crm.open, ttl=60, clock=lambda: now[0])
    await service.table("dynamics", "lead")
    now[0] = 59
    await service.table("dynamics", "lead")
    assert api.crm.opened == 1
    now[0] = 61
    await service.table("dynamics", "lead")
    assert api.crm.opened == 2


async def test_a_connection_that_cannot_be_opened_is_a_crm_failure(api: Api) -> None:
    api.supervisor.environ = {}  # the client secret's variable is not set
    service = CrmService(api.supervisor)
    with pytest.raises(CrmFailed) as raised:
        await service.tables("dynamics")
    assert "CRMSYNC_TEST_SECRET" in raised.value.message
    assert raised.value.message.startswith("connection 'dynamics': ")
