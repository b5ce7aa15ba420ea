"""The OpenAPI document needs a login; no documentation page loads scripts from elsewhere."""

from __future__ import annotations

from api_support import Api

from crmsync.api.users import Role


async def test_the_openapi_document_needs_a_login(api: Api) -> None:
    assert (await api.client.get("/openapi.json")).status_code == 401
    response = await api.client.get("/openapi.json", headers=api.auth(Role.VIEWER))
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/crm/{connection}/tables" in paths
    assert "/api/jobs/{name}/runs" in paths
    assert "/openapi.json" not in paths


async def test_there_are_no_documentation_pages(api: Api) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        response = await api.client.get(path, headers=api.auth(Role.VIEWER))
        assert response.status_code == 404


async def test_every_operation_has_a_stable_id(api: Api) -> None:
    schema = (await api.client.get("/openapi.json", headers=api.auth(Role.VIEWER))).json()
    ids = [
        operation.get("operationId")
        for item in schema["paths"].values()
        for operation in item.values()
    ]
    assert None not in ids
    assert len(ids) == len(set(ids))
