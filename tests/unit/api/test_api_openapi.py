"""The OpenAPI document needs a login and declares how to log in; ``/docs`` shows it in Swagger
UI served from the server's own files, nothing loaded from elsewhere."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
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


async def test_the_document_declares_the_api_token_and_the_session_cookie(api: Api) -> None:
    schema = (await api.client.get("/openapi.json", headers=api.auth(Role.VIEWER))).json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["apiToken"] | {"description": ""} == {
        "type": "http",
        "scheme": "bearer",
        "description": "",
    }
    assert (schemes["session"]["type"], schemes["session"]["in"]) == ("apiKey", "cookie")
    assert schemes["session"]["name"] == "crmsync_session"
    assert "X-CSRF-Token" in schemes["session"]["description"]
    either = [{"apiToken": []}, {"session": []}]
    operations = {
        (method.upper(), path): operation.get("security")
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    open_ones = {key for key, security in operations.items() if security is None}
    assert open_ones == {("GET", "/health"), ("POST", "/api/login")}
    assert all(security == either for key, security in operations.items() if key not in open_ones)


async def test_docs_is_swagger_ui_on_the_document_with_its_files_served_here(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    assert "SwaggerUIBundle" in page.text
    assert "url: '/openapi.json'" in page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(sources) == [
        "/docs/assets/favicon.png",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
    ]
    assert "http://" not in page.text
    assert "https://" not in page.text
    script = await api.client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "SwaggerUIBundle" in script.text
    style = await api.client.get("/docs/assets/swagger-ui.css")
    assert (style.status_code, style.headers["content-type"][:8]) == (200, "text/css")
    assert (await api.client.get("/redoc", headers=api.auth(Role.VIEWER))).status_code == 404


async def test_every_operation_has_a_stable_id(api: Api) -> None:
    schema = (await api.client.get("/openapi.json", headers=api.auth(Role.VIEWER))).json()
    ids = [
        operation.get("operationId")
        for item in schema["paths"].values()
        for operation in item.values()
    ]
    assert None not in ids
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b'{"name": "x",', "body.13"),  # JSON cut short
        (b'{"name": "\xff"}', "body"),  # not UTF-8
        (b"`\xf7va", "body"),
    ],
)
async def test_a_malformed_json_body_is_422_on_every_operation(
    api: Api, body: bytes, loc: str
) -> None:
    """docs/api.md: a body that is not JSON is an invalid request like any other (422)."""
    admin = api.auth(Role.ADMIN)
    schema = (await api.client.get("/openapi.json", headers=admin)).json()
    taking_json = [
        (method.upper(), path.replace("{name}", "contacts").replace("{run_id}", "r1"))
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert len(taking_json) >= 9
    for method, path in taking_json:
        response = await api.client.request(
            method, path, content=body, headers=admin | {"Content-Type": "application/json"}
        )
        assert response.status_code == 422, (method, path, response.text)
        assert "422" in _declared(schema, method, path)
        assert [issue["loc"] for issue in response.json()["issues"]] == [loc], (method, path)
    assert api.supervisor.revisions.pending("inbound") is None


def _declared(schema: dict[str, Any], method: str, path: str) -> set[str]:
    for template, item in schema["paths"].items():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if re.fullmatch(pattern, path) and method.lower() in item:
            return set(item[method.lower()]["responses"])
    raise AssertionError(f"{method} {path} is not in the document")


async def test_the_exported_configuration_is_documented_as_a_yaml_mapping(api: Api) -> None:
    admin = api.auth(Role.ADMIN)
    schema = (await api.client.get("/openapi.json", headers=admin)).json()
    answer = schema["paths"]["/api/revisions/{workflow}/export"]["get"]["responses"]["200"]
    declared = answer["content"]["application/yaml"]["schema"]
    exported = await api.client.get("/api/revisions/inbound/export", headers=admin)
    assert exported.headers["content-type"].startswith("application/yaml")
    # Clients (and schemathesis) read an application/yaml body as the document it holds.
    assert declared == {"type": "object"}
    assert isinstance(yaml.safe_load(exported.text), dict)
