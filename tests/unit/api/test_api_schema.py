"""Every operation of the OpenAPI document, run through schemathesis' phases as an admin: the
document's examples, the coverage of each schema's edges (missing, malformed and boundary
values, bodies that are not JSON), then generated valid and invalid input. No answer is a server
error or an exception, and every answer has a status code, content type and body the document
declares for that operation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_support import PASSWORD, Api, make_api
from schemathesis.core.result import Ok
from schemathesis.engine import events, from_schema
from schemathesis.engine.recorder import Interaction
from schemathesis.hooks import HookContext

from crmsync.api.users import Role
from crmsync.store import publish

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "content_type_conformance",
)
#: Generated cases per operation and phase: enough to reach every branch of the bodies while
#: the whole run stays around a minute.
EXAMPLES = 50


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Api]:
    made = make_api(tmp_path)
    publish(made.supervisor.engine, made.supervisor.config("inbound").resources)
    yield made
    made.supervisor.engine.dispose()


# Hypothesis warns when it describes a generated bulk of events of hundreds of kilobytes.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
def test_every_answer_is_declared_and_none_is_a_server_error(served: Api) -> None:
    # An admin of the run's own, that no generated request changes nor deletes.
    runner = f"admin-{uuid.uuid4().hex}"
    served.users.add(runner, Role.ADMIN, PASSWORD)
    admin = {"Authorization": f"Bearer {served.users.new_token(runner)}"}
    config = schemathesis.Config.from_dict(
        {
            "seed": 21,
            "headers": admin,
            "checks": {"enabled": False} | {name: {"enabled": True} for name in CHECKS},
            "phases": {"stateful": {"enabled": False}},
            "generation": {"max-examples": EXAMPLES, "database": "none"},
        }
    )
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", served.app, config=config, headers=admin
    )

    @schema.hook
    def filter_path_parameters(_context: HookContext, parameters: dict[str, Any] | None) -> bool:
        return parameters is None or parameters.get("name") != runner

    results = list(schema.get_all_operations())
    operations = {result.ok().label for result in results if isinstance(result, Ok)}
    assert len(operations) == len(results) > 40  # every operation's schema could be read
    tested: set[str] = set()
    answers = 0
    recorded: list[Interaction] = []
    problems: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            tested.add(event.recorder.label)
            recorded += event.recorder.interactions.values()
            for checks in event.recorder.checks.values():
                answers += 1
                problems += [
                    f"{event.recorder.label}: {check.failure_info.failure.title}\n"
                    f"{check.failure_info.failure.message}\n{check.failure_info.code_sample}"
                    for check in checks
                    if check.failure_info is not None
                ]
        elif isinstance(event, events.NonFatalError):
            problems.append(f"{event.label}: {event.value!r}\n{event.info.format()}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    assert not problems, "\n\n".join(sorted(set(problems)))
    assert tested == operations
    assert answers > 2_900
    refused = sum(i.response.status_code == 401 for i in recorded if i.response is not None)
    assert refused < answers / 10  # requests sent without credentials: the token held
    # Workflows the run started live on schemathesis' event loop: stop them there.
    stop = schema["/api/workflows/{name}/stop"]["POST"]
    for name in served.supervisor.specs:
        stopped = stop.Case(path_parameters={"name": name}).call(headers=admin)
        assert stopped.status_code == 200, stopped.text
        assert not served.supervisor.is_running(name)
