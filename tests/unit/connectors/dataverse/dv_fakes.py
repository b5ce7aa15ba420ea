"""A scripted Dataverse organisation behind ``httpx.MockTransport``, and its data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson

from crmsync.connectors.dataverse import DataverseClient, DataverseConnectionConfig

ORG = "https://org.example.com"
ROOT = f"{ORG}/api/data/v9.2/"
SECRET = "s3cret-Value-123"
#: The variable the settings name for the secret (set by the ``client_secret`` fixture).
SECRET_ENV = "CRMSYNC_TEST_SECRET"


def _label(text: str) -> dict[str, Any]:
    return {
        "UserLocalizedLabel": {"Label": text, "LanguageCode": 1033},
        "LocalizedLabels": [{"Label": text, "LanguageCode": 1033}],
    }


def _attr(name: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "@odata.type": f"#Microsoft.Dynamics.CRM.{kind}AttributeMetadata",
        "LogicalName": name,
        "AttributeType": kind,
        "AttributeTypeName": {"Value": f"{kind}Type"},
        "DisplayName": _label(name.title()),
        "RequiredLevel": {"Value": "None"},
        "IsValidForRead": True,
        "IsValidForCreate": True,
        "IsValidForUpdate": True,
        "AttributeOf": None,
        **extra,
    }


ENTITIES: dict[str, dict[str, Any]] = {
    "contact": {
        "LogicalName": "contact",
        "EntitySetName": "contacts",
        "PrimaryIdAttribute": "contactid",
        "PrimaryNameAttribute": "fullname",
        "ChangeTrackingEnabled": True,
        "DisplayName": _label("Contact"),
    },
    "account": {
        "LogicalName": "account",
        "EntitySetName": "accounts",
        "PrimaryIdAttribute": "accountid",
        "PrimaryNameAttribute": "name",
        "ChangeTrackingEnabled": True,
        "DisplayName": _label("Account"),
    },
    "note": {
        "LogicalName": "note",
        "EntitySetName": "notes",
        "PrimaryIdAttribute": "noteid",
        "PrimaryNameAttribute": None,
        "ChangeTrackingEnabled": False,
        "DisplayName": _label("Note"),
    },
}
ATTRIBUTES: dict[str, list[dict[str, Any]]] = {
    "contact": [
        _attr("contactid", "Uniqueidentifier", IsValidForUpdate=False),
        _attr("fullname", "String", IsValidForCreate=False, IsValidForUpdate=False),
        _attr("firstname", "String"),
        _attr("lastname", "String", RequiredLevel={"Value": "ApplicationRequired"}),
        _attr("emailaddress1", "String"),
        _attr("numberofchildren", "Integer"),
        _attr("birthdate", "DateTime", DateTimeBehavior={"Value": "DateOnly"}),
        _attr("gendercode", "Picklist"),
        _attr("donotemail", "Boolean"),
        _attr("creditlimit", "Money"),
        _attr("parentcustomerid", "Customer", Targets=["account", "contact"]),
        _attr("parentcustomeridname", "String", AttributeOf="parentcustomerid"),
        _attr("parentcustomeridtype", "EntityName", AttributeOf="parentcustomerid"),
        _attr("crmsync_accountid", "Lookup", Targets=["account"]),
        _attr(
            "createdon",
            "DateTime",
            DateTimeBehavior={"Value": "UserLocal"},
            IsValidForCreate=False,
            IsValidForUpdate=False,
        ),
        _attr("modifiedon", "DateTime", DateTimeBehavior={"Value": "UserLocal"}),
        _attr("versionnumber", "BigInt", IsValidForCreate=False, IsValidForUpdate=False),
    ],
    "account": [
        _attr("accountid", "Uniqueidentifier"),
        _attr("name", "String"),
        _attr("accountnumber", "String"),
        _attr("versionnumber", "BigInt"),
    ],
    "note": [_attr("noteid", "Uniqueidentifier"), _attr("subject", "String")],
}
CASTS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("contact", "PicklistAttributeMetadata"): [
        {
            "LogicalName": "gendercode",
            "OptionSet": {
                "Options": [
                    {"Value": 1, "Label": _label("Male")},
                    {"Value": 2, "Label": _label("Female")},
                ]
            },
        }
    ],
    ("contact", "BooleanAttributeMetadata"): [
        {
            "LogicalName": "donotemail",
            "OptionSet": {
                "TrueOption": {"Value": 1, "Label": _label("Do Not Allow")},
                "FalseOption": {"Value": 0, "Label": _label("Allow")},
            },
        }
    ],
}
KEYS: dict[str, list[dict[str, Any]]] = {
    "contact": [
        {"LogicalName": "k_email", "KeyAttributes": ["emailaddress1"]},
        {"LogicalName": "k_name", "KeyAttributes": ["firstname", "numberofchildren"]},
    ],
    "account": [{"LogicalName": "k_number", "KeyAttributes": ["accountnumber"]}],
    "note": [],
}

Handler = Callable[[httpx.Request], httpx.Response]
ClientFactory = Callable[..., DataverseClient]


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=orjson.dumps(body),
        headers={"Content-Type": "application/json; odata.metadata=minimal", **(headers or {})},
    )


def dv_error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


class FakeOrg:
    """Answers metadata requests itself and data requests through ``handlers``."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.data: Handler | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/api/data/v9.2/")
        if path.startswith("EntityDefinitions"):
            return self._metadata(path)
        assert self.data is not None, f"unexpected request {request.method} {request.url}"
        return self.data(request)

    def data_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if "EntityDefinitions" not in r.url.path]

    def _metadata(self, path: str) -> httpx.Response:
        if path == "EntityDefinitions":
            return json_response(200, {"value": list(ENTITIES.values())})
        name = path.split("'")[1]
        if name not in ENTITIES:
            return dv_error(404, "0x80060888", f"Could not find entity {name}")
        rest = path.split(")", 1)[1]
        if rest == "":
            return json_response(200, ENTITIES[name])
        if rest == "/Attributes":
            return json_response(200, {"value": ATTRIBUTES[name]})
        if rest == "/Keys":
            return json_response(200, {"value": KEYS[name]})
        cast = rest.rsplit(".", 1)[1]
        return json_response(200, {"value": CASTS.get((name, cast), [])})


def make_config(**overrides: Any) -> DataverseConnectionConfig:
    values: dict[str, Any] = {
        "url": ORG,
        "tenant_id": "tenant",
        "client_id": "client",
        "client_secret_env": SECRET_ENV,
        "max_retries": 3,
        "backoff_initial_seconds": 1.0,
        "backoff_max_seconds": 8.0,
        "page_size": 2,
        **overrides,
    }
    return DataverseConnectionConfig(**values)
