"""Single-record resources: ``sobjects/{Object}`` (create), ``sobjects/{Object}/{id}``
(read, update, delete) and ``sobjects/{Object}/{ExternalIdField}/{value}`` (read, upsert,
delete by external id)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.salesforce.context import (
    ApiContext,
    endpoint,
    json_response,
    read_json,
    version_of,
)
from crmsync.emulators.salesforce.errors import ApiError, RecordError, not_found
from crmsync.emulators.salesforce.ids import normalize_id
from crmsync.emulators.salesforce.preconditions import check_unmodified_since
from crmsync.emulators.salesforce.records import record_url, render_row
from crmsync.emulators.salesforce.schema import Field, FieldType, SObject
from crmsync.emulators.salesforce.writes import MultipleMatches

__all__ = ["sobject_routes"]


def _body_fields(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of an sObject from a value that is not a JSON object",
        )
    return {k: v for k, v in body.items() if k != "attributes"}


def sobject_routes(ctx: ApiContext) -> list[BaseRoute]:
    store, writer = ctx.store, ctx.writer

    def read(obj: SObject, record_id: str, version: str, fields: str | None) -> dict[str, Any]:
        table = store.table(obj)
        with store.reading() as conn:
            row = conn.execute(sa.select(table).where(table.c.Id == record_id)).mappings().first()
        if row is None:
            raise not_found()
        if row["IsDeleted"]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        record = render_row(obj, dict(row), version)
        if fields:
            wanted = {name.strip().lower() for name in fields.split(",")}
            unknown = [n for n in wanted if obj.field(n) is None]
            if unknown:
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{unknown[0]}' on sobject of type {obj.name}",
                )
            record = {k: v for k, v in record.items() if k == "attributes" or k.lower() in wanted}
        return record

    def record_id_of(obj: SObject, value: str) -> str:
        normalized = normalize_id(value)
        if normalized is None or normalized[:3] != obj.key_prefix:
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {value}"
            )
        return normalized

    def external_field(obj: SObject, name: str) -> Field:
        found = obj.field(name)
        if found is None or not found.id_lookup:
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {name}"
            )
        return found

    @endpoint
    async def create(request: Request) -> Response:
        obj = ctx.sobject(request.path_params["sobject"])
        body = _body_fields(await read_json(request))
        if "Id" in body or "id" in body:
            raise ApiError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        with store.transaction() as conn:
            new_id = writer.create(conn, obj, body)
        return json_response(
            {"id": new_id, "success": True, "errors": []},
            201,
            {"Location": record_url(version_of(request), obj, new_id)},
        )

    @endpoint
    async def one(request: Request) -> Response:
        obj = ctx.sobject(request.path_params["sobject"])
        record_id = record_id_of(obj, request.path_params["id"])
        if request.method == "GET":
            fields = request.query_params.get("fields")
            return json_response(read(obj, record_id, version_of(request), fields))
        try:
            with store.transaction() as conn:
                if request.method == "DELETE":
                    writer.delete(conn, obj, record_id)
                else:
                    body = _body_fields(await read_json(request))
                    body.pop("Id", None)
                    check_unmodified_since(
                        conn,
                        store.table(obj),
                        record_id,
                        request.headers.get("if-unmodified-since"),
                    )
                    writer.update(conn, obj, record_id, body)
        except RecordError as error:
            if error.code == "INVALID_CROSS_REFERENCE_KEY" and not error.fields:
                raise not_found() from None
            if error.code == "ENTITY_IS_DELETED":
                raise error.to_api_error(404) from None
            raise
        return Response(status_code=204)

    @endpoint
    async def by_external_id(request: Request) -> Response:
        obj = ctx.sobject(request.path_params["sobject"])
        found = external_field(obj, request.path_params["field"])
        value: Any = request.path_params["value"]
        version = version_of(request)
        if found.type == FieldType.ID:
            value = record_id_of(obj, value)
        if request.method == "PATCH":
            body = _body_fields(await read_json(request))
            update_only = request.query_params.get("updateOnly", "").lower() == "true"
            try:
                with store.transaction() as conn:
                    record_id, created = writer.upsert(
                        conn, obj, found, value, body, update_only=update_only
                    )
            except MultipleMatches as error:
                return json_response([record_url(version, obj, i) for i in error.ids], 300)
            except RecordError as error:
                if error.code == "NOT_FOUND":
                    raise error.to_api_error(404) from None
                raise
            result = {"id": record_id, "success": True, "errors": [], "created": created}
            return json_response(result, 201 if created else 200)
        with store.reading() as conn:
            matches = writer.find_by(conn, obj, found, value)
        if len(matches) > 1:
            return json_response([record_url(version, obj, i) for i in matches], 300)
        if not matches:
            raise not_found()
        if request.method == "DELETE":
            with store.transaction() as conn:
                writer.delete(conn, obj, matches[0])
            return Response(status_code=204)
        return json_response(read(obj, matches[0], version, request.query_params.get("fields")))

    return [
        Route("/sobjects/{sobject}", create, methods=["POST"]),
        Route("/sobjects/{sobject}/", create, methods=["POST"]),
        Route("/sobjects/{sobject}/{id}", one, methods=["GET", "PATCH", "DELETE"]),
        Route(
            "/sobjects/{sobject}/{field}/{value}",
            by_external_id,
            methods=["GET", "PATCH", "DELETE"],
        ),
    ]
