"""``POST $batch``: many operations in one request, change sets applied atomically.

The body is decoded with :mod:`crmsync.odata.batch`; every inner request goes to the same
:meth:`WebApi.handle` as a direct request (no HTTP round trip). A change set runs inside one
SAVEPOINT: when one of its operations fails, the others are rolled back and the change set answers
with that failure alone. ``Content-ID`` values of a change set can be referenced as ``$n`` (as the
URL, or as the value of an ``@odata.bind``).

Without ``Prefer: odata.continue-on-error`` processing stops at the first failure and the batch
answers ``400`` with the parts processed so far; with it every operation runs and the batch answers
``200`` with each failure inline. A ``batch_item`` fault of the emulator's fault plan makes the
operation at its ``batch_index`` (0-based over all operations) fail with the fault's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from crmsync.emulators.dataverse.errors import CODE_BATCH, WebApiError, error_body
from crmsync.odata.batch import (
    BatchFormatError,
    BatchRequest,
    BatchResponse,
    ChangeSet,
    ChangeSetResponse,
    decode_requests,
    encode_responses,
)

if TYPE_CHECKING:
    from crmsync.emulators.dataverse.webapi import ApiRequest, ApiResponse, WebApi

__all__ = ["handle_batch"]

_SERVICE_ROOT = "/api/data/v9.2/"


class _ChangeSetFailed(Exception):
    def __init__(self, response: BatchResponse) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass(slots=True)
class _Run:
    """State of one batch while its operations run."""

    api: WebApi
    outer: ApiRequest
    fault_index: int | None
    fault_status: int
    index: int = 0


def _relative(url: str, content_ids: dict[str, str]) -> tuple[str, str]:
    """(path relative to the service root, query) of an inner request URL."""
    if url.startswith("$"):
        reference, _, tail = url[1:].partition("/")
        if reference not in content_ids:
            raise WebApiError(
                400, CODE_BATCH, f"Content-ID reference '${reference}' was not found in the batch."
            )
        url = content_ids[reference] + (f"/{tail}" if tail else "")
    parts = urlsplit(url)
    path = parts.path
    if _SERVICE_ROOT in path:
        path = path.split(_SERVICE_ROOT, 1)[1]
    elif path.rstrip("/") == _SERVICE_ROOT.rstrip("/"):
        path = ""
    return path.lstrip("/"), parts.query


def _run_one(run: _Run, request: BatchRequest, content_ids: dict[str, str]) -> BatchResponse:
    from crmsync.emulators.dataverse.webapi import ApiRequest, parse_query

    index = run.index
    run.index += 1
    if run.fault_index is not None and index == run.fault_index:
        body, content_type = error_body(run.fault_status)
        return BatchResponse(
            run.fault_status,
            {"Content-Type": content_type, "OData-Version": "4.0"},
            body,
            request.content_id,
        )
    try:
        path, query = _relative(request.url, content_ids)
    except WebApiError as error:
        return BatchResponse(
            error.status,
            {"Content-Type": "application/json; odata.metadata=minimal"},
            error.body(),
            request.content_id,
        )
    inner = ApiRequest(
        method=request.method.upper(),
        path=path,
        params=parse_query(query),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=request.body,
        base_url=run.outer.base_url,
        content_ids=content_ids,
    )
    response: ApiResponse = run.api.handle(inner)
    return BatchResponse(response.status, response.headers, response.body, request.content_id)


def _run_change_set(run: _Run, change_set: ChangeSet) -> ChangeSetResponse | BatchResponse:
    for request in change_set.requests:
        if request.method.upper() == "GET":
            run.index += len(change_set.requests)
            body, content_type = error_body(
                400, CODE_BATCH, "GET requests are not allowed inside a change set."
            )
            return BatchResponse(400, {"Content-Type": content_type}, body)
    content_ids: dict[str, str] = {}
    responses: list[BatchResponse] = []
    start = run.index
    try:
        with run.api.store.savepoint():
            for request in change_set.requests:
                response = _run_one(run, request, content_ids)
                if response.status >= 400:
                    raise _ChangeSetFailed(response)
                entity_id = response.headers.get("OData-EntityId")
                if request.content_id is not None and entity_id:
                    content_ids[request.content_id] = entity_id
                responses.append(response)
    except _ChangeSetFailed as failure:
        run.index = start + len(change_set.requests)
        return failure.response
    return ChangeSetResponse(responses)


def handle_batch(api: WebApi, request: ApiRequest) -> ApiResponse:
    """Answer ``POST $batch``."""
    from crmsync.emulators.dataverse.webapi import ApiResponse

    content_type = request.headers.get("content-type", "")
    try:
        items = decode_requests(request.body, content_type)
    except BatchFormatError as error:
        raise WebApiError(400, CODE_BATCH, f"The batch request is malformed: {error}") from None
    operations = sum(len(i.requests) if isinstance(i, ChangeSet) else 1 for i in items)
    limit = api.settings.max_batch_requests
    if operations > limit:
        raise WebApiError(
            400,
            CODE_BATCH,
            f"The number of requests in the batch ({operations}) exceeds the limit of {limit}.",
        )
    fault: Any = api.faults.take_batch_item() if api.faults is not None else None
    run = _Run(
        api,
        request,
        fault_index=getattr(fault, "batch_index", None) if fault is not None else None,
        fault_status=int(getattr(fault, "status", 503) or 503),
    )
    if fault is not None and run.fault_index is None:
        run.fault_index = 0
    continue_on_error = "odata.continue-on-error" in request.headers.get("prefer", "").lower()
    answers: list[BatchResponse | ChangeSetResponse] = []
    failed = False
    for item in items:
        if isinstance(item, ChangeSet):
            answer = _run_change_set(run, item)
        else:
            answer = _run_one(run, item, {})
        answers.append(answer)
        if isinstance(answer, BatchResponse) and answer.status >= 400:
            failed = True
            if not continue_on_error:
                break
    body, response_type = encode_responses(answers)
    headers = {"Content-Type": response_type}
    if continue_on_error:
        headers["Preference-Applied"] = "odata.continue-on-error"
    return ApiResponse(400 if failed and not continue_on_error else 200, headers, body)
