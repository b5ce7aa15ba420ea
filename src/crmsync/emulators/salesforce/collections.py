"""sObject Collections: ``composite/sobjects`` create (POST), update (PATCH), delete (DELETE
``?ids=…``) and upsert by external id (PATCH ``composite/sobjects/{Object}/{Field}``).

At most 200 records a request. Results come back in request order, one per record:
``{"id","success","errors":[{"statusCode","message","fields"}]}`` (plus ``created`` for
upserts). Each record is written in its own savepoint; with ``allOrNone`` one failure rolls every
record back and the others report ``ALL_OR_NONE_OPERATION_ROLLED_BACK``.

A ``batch_item`` fault of the emulator's fault plan makes the record at its ``batch_index``
(0-based, default the first) of the next collection fail as a validation rule would
(``FIELD_CUSTOM_VALIDATION_EXCEPTION``, not written); the other records are processed as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.salesforce.context import ApiContext, endpoint, json_response, read_json
from crmsync.emulators.salesforce.errors import ApiError, RecordError
from crmsync.emulators.salesforce.ids import normalize_id
from crmsync.emulators.salesforce.schema import SObject

__all__ = ["INJECTED_FAILURE", "MAX_RECORDS", "collection_routes"]

MAX_RECORDS = 200
_ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone "
    "header",
)

#: The error of the record failed by a ``batch_item`` fault.
INJECTED_FAILURE = "FIELD_CUSTOM_VALIDATION_EXCEPTION"

#: One record's write: returns ``(id, created)``.
Operation = Callable[[Connection], tuple[str, bool | None]]


class _RollBack(Exception):
    """Raised inside the transaction to undo every record of an all-or-none request."""


def _too_many(count: int) -> None:
    if count > MAX_RECORDS:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
        )


def _result(
    record_id: str | None, created: bool | None, error: RecordError | None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": record_id,
        "success": error is None,
        "errors": [] if error is None else [error.as_json()],
    }
    if created is not None:
        result["created"] = created
    return result


def collection_routes(ctx: ApiContext) -> list[BaseRoute]:
    store, writer = ctx.store, ctx.writer

    def with_fault(operations: list[Operation | RecordError]) -> list[Operation | RecordError]:
        """``operations`` with the one a pending ``batch_item`` fault fails, if any."""
        fault = ctx.faults.take_batch_item() if ctx.faults is not None else None
        index = 0 if fault is None or fault.batch_index is None else fault.batch_index
        if fault is None or index >= len(operations):
            return operations
        failed = RecordError(
            INJECTED_FAILURE,
            f"injected failure of record {index} (emulator fault batch_item, status "
            f"{fault.status})",
        )
        return [*operations[:index], failed, *operations[index + 1 :]]

    def execute(
        operations: list[Operation | RecordError], all_or_none: bool, upsert: bool
    ) -> list[dict[str, Any]]:
        operations = with_fault(operations)
        ids: list[str | None] = []
        created: list[bool | None] = []
        failures: list[RecordError | None] = []
        try:
            with store.transaction():
                for operation in operations:
                    outcome: tuple[str, bool | None] | None = None
                    failure: RecordError | None = None
                    if isinstance(operation, RecordError):
                        failure = operation
                    else:
                        try:
                            with store.savepoint() as point:
                                outcome = operation(point)
                        except RecordError as caught:
                            failure = caught
                    ids.append(outcome[0] if outcome else None)
                    created.append(outcome[1] if outcome else None)
                    failures.append(failure)
                if all_or_none and any(failures):
                    raise _RollBack
        except _RollBack:
            ids = [None] * len(ids)
            failures = [failure or _ROLLED_BACK for failure in failures]
        return [
            _result(
                record_id,
                (bool(was_created) if failure is None else False) if upsert else None,
                failure,
            )
            for record_id, was_created, failure in zip(ids, created, failures, strict=True)
        ]

    async def body_of(request: Request) -> tuple[list[Any], bool]:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise ApiError(
                400, "JSON_PARSER_ERROR", 'the body must be {"allOrNone":…,"records":[…]}'
            )
        records: list[Any] = body["records"]
        _too_many(len(records))
        all_or_none = body.get("allOrNone", False)
        if not isinstance(all_or_none, bool):
            raise ApiError(400, "JSON_PARSER_ERROR", "allOrNone must be true or false")
        return records, all_or_none

    def record_type(record: Any, fallback: SObject | None = None) -> tuple[SObject, dict[str, Any]]:
        if not isinstance(record, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "each record must be a JSON object")
        attributes = record.get("attributes")
        name = attributes.get("type") if isinstance(attributes, dict) else None
        fields = {k: v for k, v in record.items() if k != "attributes"}
        if not isinstance(name, str) or not name:
            if fallback is not None:
                return fallback, fields
            raise RecordError("INVALID_TYPE", "Must send a concrete entity type.")
        obj = store.schema.get(name)
        if obj is None:
            raise RecordError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return obj, fields

    @endpoint
    async def create_or_update(request: Request) -> Response:
        records, all_or_none = await body_of(request)
        creating = request.method == "POST"
        operations: list[Operation | RecordError] = []
        for record in records:
            try:
                obj, fields = record_type(record)
            except RecordError as error:
                operations.append(error)
                continue
            if creating:
                if any(k.lower() == "id" for k in fields):
                    operations.append(
                        RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
                    )
                    continue

                def create(
                    conn: Connection, o: SObject = obj, f: dict[str, Any] = fields
                ) -> tuple[str, bool | None]:
                    return writer.create(conn, o, f), None

                operations.append(create)
                continue
            raw_id = next((v for k, v in fields.items() if k.lower() == "id"), None)
            if raw_id is None:
                operations.append(
                    RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
                )
                continue
            fields = {k: v for k, v in fields.items() if k.lower() != "id"}

            def update(
                conn: Connection, o: SObject = obj, f: dict[str, Any] = fields, i: Any = raw_id
            ) -> tuple[str, bool | None]:
                record_id = writer.resolve_id(o, i)
                writer.update(conn, o, record_id, f)
                return record_id, None

            operations.append(update)
        return json_response(execute(operations, all_or_none, upsert=False))

    @endpoint
    async def upsert(request: Request) -> Response:
        obj = ctx.sobject(request.path_params["sobject"])
        found = obj.field(request.path_params["field"])
        if found is None or not found.id_lookup:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: "
                f"{request.path_params['field']}",
            )
        records, all_or_none = await body_of(request)
        operations: list[Operation | RecordError] = []
        for record in records:
            try:
                record_obj, fields = record_type(record, obj)
            except RecordError as error:
                operations.append(error)
                continue
            if record_obj is not obj:
                operations.append(
                    RecordError("INVALID_TYPE", f"Must send records of type {obj.name}")
                )
                continue
            value = next((v for k, v in fields.items() if k.lower() == found.name.lower()), None)
            if value is None:
                operations.append(
                    RecordError("MISSING_ARGUMENT", f"{found.name} not specified", [found.name])
                )
                continue

            def run(
                conn: Connection, f: dict[str, Any] = fields, v: Any = value
            ) -> tuple[str, bool | None]:
                return writer.upsert(conn, obj, found, v, f)

            operations.append(run)
        return json_response(execute(operations, all_or_none, upsert=True))

    @endpoint
    async def delete(request: Request) -> Response:
        ids = [i for i in request.query_params.get("ids", "").split(",") if i.strip()]
        if not ids:
            raise ApiError(400, "MISSING_ARGUMENT", "ids parameter is required")
        _too_many(len(ids))
        all_or_none = request.query_params.get("allOrNone", "false").lower() == "true"
        operations: list[Operation | RecordError] = []
        for raw in ids:
            raw = raw.strip()
            normalized = normalize_id(raw)
            obj = store.schema.by_prefix(normalized[:3]) if normalized else None
            if normalized is None or obj is None:
                operations.append(RecordError("MALFORMED_ID", f"malformed id {raw}", []))
                continue

            def remove(
                conn: Connection, o: SObject = obj, i: str = normalized
            ) -> tuple[str, bool | None]:
                writer.delete(conn, o, i)
                return i, None

            operations.append(remove)
        results = execute(operations, all_or_none, upsert=False)
        for result, raw in zip(results, ids, strict=True):
            if result["id"] is None and not result["success"]:
                result["id"] = normalize_id(raw.strip())
        return json_response(results)

    return [
        Route("/composite/sobjects", create_or_update, methods=["POST", "PATCH"]),
        Route("/composite/sobjects/", create_or_update, methods=["POST", "PATCH"]),
        Route("/composite/sobjects", delete, methods=["DELETE"]),
        Route("/composite/sobjects/", delete, methods=["DELETE"]),
        Route("/composite/sobjects/{sobject}/{field}", upsert, methods=["PATCH"]),
    ]
