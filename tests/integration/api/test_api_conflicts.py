"""``GET /api/mappings/{name}/conflicts`` over each store: the conflicts the two-way merge
logged, newest first, filtered by record and cut to ``limit``; a login is needed, a viewer's is
enough; an unknown mapping is 404 and a one-way mapping has none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from crmsync.api import create_app
from crmsync.api.users import Role, UserStore
from crmsync.config.models import Config
from crmsync.twoway import record_conflicts
from crmsync.twoway.rule import Conflict, Reason, Winner
from crmsync.workflows.supervisor import Supervisor, WorkflowSpec

AT = datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
CONFIG = """\
version: 1
connections:
  dynamics:
    kind: dataverse
    url: https://127.0.0.1:9
    authority: https://127.0.0.1:9/tenant
    client_id: 6f1c2d4e-0000-4000-8000-0000000000a1
    client_secret_env: CRMSYNC_TEST_SECRET
resources:
  - name: lead
    identifier: crm_id
    fields:
      - {name: crm_id, type: string, length: 36}
      - {name: first_name, type: string, length: 100}
inbound:
  mappings:
    - name: contacts
      connection: dynamics
      crm_table: contact
      resource: profile
      primary_key: {campaign: external_id}
      two_way: true
      fields:
        - {crm: firstname, campaign: first_name}
    - name: leads
      connection: dynamics
      crm_table: lead
      resource: lead
      primary_key: {campaign: crm_id}
      fields:
        - {crm: firstname, campaign: first_name}
"""


async def _run(
    _config: Config, stop: asyncio.Event, started: Callable[[], Awaitable[None]]
) -> Mapping[str, int]:
    await started()
    await stop.wait()
    return {}


async def _backlog(_config: Config) -> int:
    return 0


class Client:
    def __init__(self, http: httpx.AsyncClient, tokens: dict[Role, str]) -> None:
        self.http, self.tokens = http, tokens

    async def get(self, path: str, role: Role | None = Role.VIEWER) -> httpx.Response:
        headers = {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}
        return await self.http.get(path, headers=headers)


@pytest.fixture
async def api(store_engine: sa.Engine) -> AsyncIterator[Client]:
    spec = WorkflowSpec(run=_run, backlog=_backlog)
    supervisor = Supervisor(
        store_engine, CONFIG, {"inbound": spec}, environ={"CRMSYNC_TEST_SECRET": "s"}
    )
    users = UserStore(store_engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    tokens = {}
    for role in (Role.VIEWER, Role.ADMIN):
        users.add(role.value, role, "a long password")
        tokens[role] = users.new_token(role.value)
    conflicts = [
        Conflict("first_name", "Ada", "Augusta", AT, AT, Winner.CRM, Reason.TIE_TO_CRM),
        Conflict("score", Decimal("1.50"), float("inf"), None, AT, Winner.CRM, Reason.CRM_NEWER),
    ]
    later = Conflict(
        "born",
        date(1815, 12, 10),
        None,
        AT + timedelta(1),
        AT,
        Winner.CAMPAIGN,
        Reason.CAMPAIGN_NEWER,
    )
    with store_engine.begin() as conn:
        record_conflicts(conn, "contacts", "C-1", conflicts, found_by="crm", at=AT)
        record_conflicts(conn, "contacts", "C-2", [later], found_by="campaign", at=AT)
    transport = httpx.ASGITransport(app=create_app(supervisor, users))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Client(http, tokens)
    await supervisor.close()


async def test_a_viewer_lists_the_conflicts_newest_first(api: Client) -> None:
    answer = await api.get("/api/mappings/contacts/conflicts")
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert [(c["record_key"], c["field"]) for c in found] == [
        ("C-2", "born"),
        ("C-1", "score"),
        ("C-1", "first_name"),
    ]
    born, score, first_name = found
    assert born == {
        "id": born["id"],
        "mapping": "contacts",
        "record_key": "C-2",
        "field": "born",
        "campaign_value": "1815-12-10",
        "crm_value": None,
        "campaign_changed_at": "2025-01-03T03:04:05.000006Z",
        "crm_changed_at": "2025-01-02T03:04:05.000006Z",
        "winner": "campaign",
        "reason": "campaign_newer",
        "found_by": "campaign",
        "decided_at": "2025-01-02T03:04:05.000006Z",
    }
    assert (score["campaign_value"], score["crm_value"]) == ("1.50", "inf")
    assert score["campaign_changed_at"] is None
    assert (first_name["winner"], first_name["reason"], first_name["found_by"]) == (
        "crm",
        "tie_to_crm",
        "crm",
    )


async def test_conflicts_are_filtered_by_record_and_cut_to_the_limit(api: Client) -> None:
    one = (await api.get("/api/mappings/contacts/conflicts?record=C-1&limit=1")).json()
    assert [(c["record_key"], c["field"]) for c in one] == [("C-1", "score")]
    assert (await api.get("/api/mappings/contacts/conflicts?record=C-9")).json() == []
    refused = await api.get("/api/mappings/contacts/conflicts?limit=0")
    assert refused.status_code == 422
    assert refused.json()["issues"][0]["loc"] == "query.limit"


async def test_a_login_is_needed(api: Client) -> None:
    answer = await api.get("/api/mappings/contacts/conflicts", role=None)
    assert answer.status_code == 401


async def test_an_unknown_mapping_is_404_and_a_one_way_one_has_none(api: Client) -> None:
    unknown = await api.get("/api/mappings/orders/conflicts")
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "there is no inbound mapping 'orders'"
    one_way = await api.get("/api/mappings/leads/conflicts")
    assert (one_way.status_code, one_way.json()) == (200, [])
