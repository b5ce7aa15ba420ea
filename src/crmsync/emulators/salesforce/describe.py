"""Metadata resources: the versions list, the resources of a version, the global describe
(``sobjects/``), an object's basic information and its full ``describe``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.salesforce.context import ApiContext, endpoint, json_response, version_of
from crmsync.emulators.salesforce.schema import (
    NUMBER_TYPES,
    TEXT_TYPES,
    Field,
    FieldType,
    SObject,
)

__all__ = ["describe_field", "describe_object", "describe_routes", "versions"]

_SEASONS = ("Winter", "Spring", "Summer")


def versions(newest: str) -> list[dict[str, str]]:
    """Every served version, oldest first, with its release label (62.0 is Winter '25)."""
    result = []
    for number in range(31, int(float(newest)) + 1):
        since = number - 20  # 20.0 was Winter '11
        label = f"{_SEASONS[since % 3]} '{11 + since // 3:02d}"
        result.append(
            {"label": label, "url": f"/services/data/v{number}.0", "version": f"{number}.0"}
        )
    return result


def _urls(obj: SObject, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "describe": f"{base}/describe",
        "sobject": base,
    }


def _object_summary(obj: SObject, version: str) -> dict[str, Any]:
    return {
        "activateable": False,
        "createable": True,
        "custom": obj.custom,
        "customSetting": False,
        "deletable": True,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "hasSubtypes": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "mergeable": obj.name in ("Account", "Contact"),
        "mruEnabled": True,
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": True,
        "updateable": True,
        "urls": _urls(obj, version),
    }


def describe_field(found: Field) -> dict[str, Any]:
    """One entry of ``fields[]`` in an object's describe."""
    kind = found.type
    text = kind in TEXT_TYPES or kind in (FieldType.ID, FieldType.REFERENCE)
    default: str | bool | None = next((p.value for p in found.picklist if p.default), None)
    if kind == FieldType.BOOLEAN and found.defaulted_on_create and found.createable:
        default = False
    return {
        "aggregatable": kind != FieldType.TEXTAREA,
        "autoNumber": False,
        "byteLength": found.length * 3 if text else 0,
        "calculated": found.name == "Name" and not found.createable,
        "caseSensitive": False,
        "createable": found.createable,
        "custom": found.custom,
        "defaultValue": default,
        "defaultedOnCreate": found.defaulted_on_create,
        "digits": found.precision if kind == FieldType.INT else 0,
        "externalId": found.external_id,
        "filterable": kind != FieldType.TEXTAREA or found.length <= 255,
        "groupable": kind not in NUMBER_TYPES and kind != FieldType.DATETIME,
        "idLookup": found.id_lookup,
        "label": found.label or found.name,
        "length": found.length if text else 0,
        "name": found.name,
        "nameField": found.name == "Name",
        "nillable": found.nillable,
        "picklistValues": [
            {
                "active": p.active,
                "defaultValue": p.default,
                "label": p.label,
                "validFor": None,
                "value": p.value,
            }
            for p in found.picklist
        ],
        "precision": found.precision if kind in (FieldType.DOUBLE, FieldType.CURRENCY) else 0,
        "referenceTo": list(found.reference_to),
        "relationshipName": found.relationship_name,
        "restrictedPicklist": found.restricted_picklist,
        "scale": found.scale,
        "soapType": found.soap_type,
        "sortable": kind != FieldType.TEXTAREA or found.length <= 255,
        "type": kind.value,
        "unique": found.unique,
        "updateable": found.updateable,
    }


def describe_object(obj: SObject, version: str) -> dict[str, Any]:
    """The body of ``sobjects/{Object}/describe``."""
    document = _object_summary(obj, version)
    document.update(
        childRelationships=[],
        fields=[describe_field(f) for f in obj.fields],
        recordTypeInfos=[],
        supportedScopes=[{"label": "All", "name": "everything"}],
    )
    return dict(sorted(document.items()))


def describe_routes(ctx: ApiContext) -> tuple[list[BaseRoute], list[BaseRoute]]:
    """Routes at ``/services/data`` (versions) and under ``/services/data/v{version}``."""
    newest = ctx.settings.api_version

    async def version_list(request: Request) -> Response:
        return json_response(versions(newest))

    @endpoint
    async def resources(request: Request) -> Response:
        base = f"/services/data/v{version_of(request)}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "search", "recent")
        return json_response({name: f"{base}/{name}" for name in names})

    @endpoint
    async def global_describe(request: Request) -> Response:
        version = version_of(request)
        return json_response(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [_object_summary(o, version) for o in ctx.store.schema.objects],
            }
        )

    @endpoint
    async def basic_info(request: Request) -> Response:
        obj = ctx.sobject(request.path_params["sobject"])
        return json_response(
            {"objectDescribe": _object_summary(obj, version_of(request)), "recentItems": []}
        )

    @endpoint
    async def describe(request: Request) -> Response:
        obj = ctx.sobject(request.path_params["sobject"])
        return json_response(describe_object(obj, version_of(request)))

    top: list[BaseRoute] = [Route("/", version_list, methods=["GET"])]
    under: list[BaseRoute] = [
        Route("/", resources, methods=["GET"]),
        Route("/sobjects", global_describe, methods=["GET"]),
        Route("/sobjects/", global_describe, methods=["GET"]),
        Route("/sobjects/{sobject}/describe", describe, methods=["GET"]),
        Route("/sobjects/{sobject}/describe/", describe, methods=["GET"]),
        Route("/sobjects/{sobject}", basic_info, methods=["GET"]),
        Route("/sobjects/{sobject}/", basic_info, methods=["GET"]),
    ]
    return (
        top,
        under,
    )
