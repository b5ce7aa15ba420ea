"""Every operation of the published OpenAPI document, checked against the roles of SPEC §9:
anonymous callers get 401, a role below the operation's gets 403, and an operation missing from
the table below fails the test (a new route must say who may call it)."""

from __future__ import annotations

import re

import pytest
from api_support import Api

from crmsync.api.users import Role

VIEW, OPER, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN

#: The least role of each operation; ``None``: public.
LEAST_ROLE: dict[str, Role | None] = {
    "health": None,
    "login": None,
    "metrics": VIEW,
    "logout": VIEW,
    "me": VIEW,
    "list_workflows": VIEW,
    "get_workflow": VIEW,
    "start_workflow": OPER,
    "stop_workflow": OPER,
    "list_mappings": VIEW,
    "list_mapping_conflicts": VIEW,
    "create_mapping": ADMIN,
    "get_mapping": VIEW,
    "update_mapping": ADMIN,
    "delete_mapping": ADMIN,
    "replay_mapping": OPER,
    "plan_mapping": VIEW,
    "list_resources": VIEW,
    "create_resource": ADMIN,
    "get_resource": VIEW,
    "update_resource": ADMIN,
    "delete_resource": ADMIN,
    "record_event": OPER,
    "record_events": OPER,
    "get_event_settings": VIEW,
    "update_event_settings": ADMIN,
    "get_optinout": VIEW,
    "update_optinout": ADMIN,
    "get_optinout_fields": VIEW,
    "list_jobs": VIEW,
    "start_job": OPER,
    "list_runs": VIEW,
    "get_run": VIEW,
    "list_run_rejects": VIEW,
    "resume_run": OPER,
    "list_revisions": VIEW,
    "export_revision": VIEW,
    "revision_changes": VIEW,
    "list_rejects": VIEW,
    "retry_rejects": OPER,
    "list_workers": VIEW,
    "list_crm_tables": VIEW,
    "get_crm_table": VIEW,
    "list_audit": ADMIN,
    "list_users": ADMIN,
    "create_user": ADMIN,
    "update_user": ADMIN,
    "delete_user": ADMIN,
    "list_tokens": ADMIN,
    "create_token": ADMIN,
    "revoke_token": ADMIN,
    "look_up_profile": ADMIN,
    "privacy_delete": ADMIN,
    "list_privacy_records": ADMIN,
    "list_suppressions": ADMIN,
    "unsuppress": ADMIN,
}

#: Path parameters filled with names the fake configuration knows.
_PARAMETERS = {
    "name": "contacts",
    "connection": "dynamics",
    "table": "contact",
    "workflow": "inbound",
    "run_id": "1",
    "revision_id": "1",
    "token_id": "1",
}


def _operations(api: Api) -> list[tuple[str, str, str]]:
    document = api.app.openapi()
    return [
        (operation["operationId"], method.upper(), path)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _PARAMETERS[m.group(1)], path)


async def test_every_operation_has_a_least_role(api: Api) -> None:
    published = {operation for operation, _method, _path in _operations(api)}
    assert published == set(LEAST_ROLE)


async def test_anonymous_callers_reach_only_the_public_operations(api: Api) -> None:
    for operation, method, path in _operations(api):
        answer = await api.client.request(method, _url(path))
        if LEAST_ROLE[operation] is None:
            assert answer.status_code != 401, operation
        else:
            assert answer.status_code == 401, operation
            assert answer.headers["WWW-Authenticate"] == "Bearer", operation


@pytest.mark.parametrize("role", [VIEW, OPER], ids=lambda role: role.value)
async def test_a_lower_role_is_refused_before_anything_is_done(api: Api, role: Role) -> None:
    revisions_before = api.supervisor.revisions.history(None, limit=1000)
    refused = 0
    for operation, method, path in _operations(api):
        least = LEAST_ROLE[operation]
        if least is None or role.allows(least):
            continue
        answer = await api.client.request(method, _url(path), headers=api.auth(role), json={})
        assert answer.status_code == 403, operation
        assert f"needs the {least.value} role" in answer.json()["detail"], operation
        refused += 1
    assert refused > 0
    assert api.supervisor.revisions.history(None, limit=1000) == revisions_before
    assert not any(api.supervisor.is_running(name) for name in ("inbound", "outbound", "optinout"))
