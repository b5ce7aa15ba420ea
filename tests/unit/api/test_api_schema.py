"""Every operation of the OpenAPI document, fed generated input by schemathesis as an admin
(valid and invalid input alike): no answer is a server error, and every answer has the status,
content type and body the document declares."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_support import Api, make_api
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from crmsync.api.users import Role
from crmsync.store import publish

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
#: Examples per operation and generation mode: enough to reach every branch of the bodies.
EXAMPLES = 12


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Api]:
    made = make_api(tmp_path)
    publish(made.supervisor.engine, made.supervisor.config("inbound").resources)
    yield made
    made.supervisor.engine.dispose()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_fails_on_generated_input(served: Api, mode: GenerationMode) -> None:
    admin = served.auth(Role.ADMIN)
    schema = schemathesis.openapi.from_asgi("/openapi.json", served.app, headers=admin)
    failures: list[str] = []
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) > 40  # every operation's schema could be read

    for operation in operations:

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(headers=admin, checks=CHECKS)

        try:
            call()
        except Unsatisfiable:
            # An operation without parameters nor body has no invalid input to generate.
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # every operation is tried; the failures are listed together
            failures.append(f"{operation.label}: {exc}")
    # Workflows the run started live on schemathesis' event loop: stop them there.
    stop = schema["/api/workflows/{name}/stop"]["POST"]
    for name in served.supervisor.specs:
        stopped = stop.Case(path_parameters={"name": name}).call(headers=admin)
        assert stopped.status_code == 200
        assert not served.supervisor.is_running(name)
    assert not failures, "\n\n".join(failures)
