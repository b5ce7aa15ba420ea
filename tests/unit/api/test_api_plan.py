"""``GET /api/mappings/{name}/plan``: its refusals over the fake CRM (the plan itself is tested
against the emulators in tests/integration/twoway)."""

from __future__ import annotations

from api_support import Api

from crmsync.api.users import Role


async def test_a_one_way_mapping_is_409_and_an_unknown_one_404(api: Api) -> None:
    viewer = api.auth(Role.VIEWER)
    one_way = await api.client.get("/api/mappings/contacts/plan", headers=viewer)
    assert one_way.status_code == 409, one_way.text
    assert one_way.json()["code"] == "NOT_TWO_WAY"
    assert "mapping 'contacts' is not two-way" in one_way.json()["detail"]
    unknown = await api.client.get("/api/mappings/nope/plan", headers=viewer)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "UNKNOWN_MAPPING")
    assert api.crm.opened == 0  # refused before the CRM is asked anything


async def test_the_limit_is_checked(api: Api) -> None:
    viewer = api.auth(Role.VIEWER)
    answer = await api.client.get("/api/mappings/contacts/plan?limit=0", headers=viewer)
    assert answer.status_code == 422
    assert answer.json()["issues"][0]["loc"] == "query.limit"
