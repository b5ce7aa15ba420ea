"""``/api/crm`` over HTTPS against both emulators, through the connectors the server opens from
its configuration (secrets from the environment, the emulators' CA trusted)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from pydantic import SecretStr

from crmsync.api import create_app
from crmsync.api.users import Role, UserStore
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.dataverse.app import create_emulator as create_dataverse
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.salesforce.app import create_emulator as create_salesforce
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.state.store import StateStore
from crmsync.store import create_engine_for
from crmsync.workflows.supervisor import Supervisor, WorkflowSpec

CLIENT_ID = "6f1c2d4e-0000-4000-8000-0000000a91c7"
SECRET = "api-emulator-secret"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("api-tls"))


@pytest.fixture(scope="module")
def servers(tls: TlsFiles) -> Iterator[dict[str, str]]:
    secret = SecretStr(SECRET)
    dataverse = create_dataverse(
        DataverseEmulatorSettings(client_id=CLIENT_ID, client_secret=secret, seed_contacts=3)
    )
    salesforce = create_salesforce(
        SalesforceEmulatorSettings(client_id=CLIENT_ID, client_secret=secret, seed_contacts=3)
    )
    with (
        BackgroundServer(dataverse.app, tls=tls) as dyn,
        BackgroundServer(salesforce.app, tls=tls) as sf,
    ):
        yield {"dyn": dyn.url, "sf": sf.url}
    dataverse.close()
    salesforce.close()


def _config(folder: Path, urls: dict[str, str], ca: Path, extra: str = "") -> str:
    return f"""version: 1
connections:
  dyn:
    kind: dataverse
    url: {urls["dyn"]}
    authority: {urls["dyn"]}/tenant
    client_id: {CLIENT_ID}
    client_secret_env: API_TEST_SECRET
    ca_bundle: {ca}
  sf:
    kind: salesforce
    url: {urls["sf"]}
    client_id: {CLIENT_ID}
    client_secret_env: API_TEST_SECRET
    ca_bundle: {ca}
store:
  url: sqlite:///{folder / "store.db"}
queue:
  kind: sqlite
  path: {folder / "queue.db"}
{extra}"""


async def _never(*_args: object) -> None:
    raise AssertionError("no workflow runs here")


@asynccontextmanager
async def _serve(
    folder: Path, servers: dict[str, str], tls: TlsFiles, role: Role, extra: str = ""
) -> AsyncIterator[httpx.AsyncClient]:
    """The API over both emulators (``extra``: more of the configuration), called as a user of
    ``role``."""
    engine = sa.create_engine(f"sqlite:///{folder / 'store.db'}")
    spec = WorkflowSpec(run=_never, backlog=_never)  # type: ignore[arg-type]
    supervisor = Supervisor(
        engine,
        _config(folder, servers, tls.ca, extra),
        {"inbound": spec, "outbound": spec, "optinout": spec},
        environ={"API_TEST_SECRET": SECRET},
    )
    users = UserStore(engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    users.add("vera", role, "a long password")
    token = users.new_token("vera")
    app = create_app(supervisor, users)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    ) as made:
        yield made
    engine.dispose()


@pytest.fixture
async def client(
    tmp_path: Path, servers: dict[str, str], tls: TlsFiles
) -> AsyncIterator[httpx.AsyncClient]:
    async with _serve(tmp_path, servers, tls, Role.VIEWER) as made:
        yield made


@pytest.fixture
async def admin(
    tmp_path: Path, servers: dict[str, str], tls: TlsFiles
) -> AsyncIterator[httpx.AsyncClient]:
    async with _serve(tmp_path, servers, tls, Role.ADMIN) as made:
        yield made


@pytest.mark.parametrize(("connection", "contact"), [("dyn", "contact"), ("sf", "Contact")])
async def test_tables_and_fields_of_each_crm(
    client: httpx.AsyncClient, connection: str, contact: str
) -> None:
    tables = await client.get(f"/api/crm/{connection}/tables")
    assert tables.status_code == 200, tables.text
    by_name = {t["name"]: t for t in tables.json()}
    assert by_name[contact]["change_tracking"] is True

    table = await client.get(f"/api/crm/{connection}/tables/{contact}")
    assert table.status_code == 200, table.text
    body = table.json()
    fields = {f["name"]: f for f in body["fields"]}
    assert fields[body["primary_key"]]["primary_key"] is True
    assert any(f["type"] == "Boolean" for f in fields.values())
    picklists = [f for f in fields.values() if f["type"] == "Picklist"]
    assert picklists
    assert all(option["label"] for option in picklists[0]["options"])


@pytest.mark.parametrize("connection", ["dyn", "sf"])
async def test_an_unknown_table_is_404(client: httpx.AsyncClient, connection: str) -> None:
    response = await client.get(f"/api/crm/{connection}/tables/nosuchtable")
    assert response.status_code == 404
    assert "nosuchtable" in response.json()["detail"]


async def test_optinout_fields_offer_the_crm_booleans(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/optinout/fields?connection=dyn")
    assert response.status_code == 200, response.text
    names = [f["name"] for f in response.json()["crm"]["fields"]]
    assert "donotemail" in names


@pytest.mark.parametrize(
    ("connection", "boolean", "text"),
    [("dyn", "donotemail", "emailaddress1"), ("sf", "HasOptedOutOfEmail", "Email")],
)
async def test_optinout_pairs_are_checked_against_each_crm_before_saving(
    admin: httpx.AsyncClient, connection: str, boolean: str, text: str
) -> None:
    settings = {"direction": "bidirectional", "connection": connection}

    def pairs(*names: str) -> dict[str, object]:
        campaign = ("optout_email", "optout_sms")[: len(names)]
        mappings = [{"crm": n, "campaign": c} for n, c in zip(names, campaign, strict=True)]
        return settings | {"mappings": mappings}

    refused = await admin.put("/api/optinout", json=pairs(boolean + "x", text))
    assert refused.status_code == 422, refused.text
    assert [issue["loc"] for issue in refused.json()["issues"]] == [
        "optinout.mappings[0].crm",
        "optinout.mappings[1].crm",
    ]
    assert "is String: opt-out fields must be Boolean" in refused.json()["issues"][1]["message"]
    hostile = await admin.put("/api/optinout", json=pairs(boolean + "' or '1'='1"))
    assert hostile.status_code == 422
    assert [issue["loc"] for issue in hostile.json()["issues"]] == ["body.mappings.0.crm"]
    saved = await admin.put("/api/optinout", json=pairs(boolean))
    assert saved.status_code == 200, saved.text
    assert (await admin.get("/api/optinout", params={"latest": "true"})).json()["mappings"][0][
        "crm"
    ] == boolean


@pytest.mark.parametrize("connection", ["dyn", "sf"])
async def test_a_replay_asked_while_the_crm_is_down_is_502_and_records_nothing(
    tmp_path: Path, tls: TlsFiles, connection: str
) -> None:
    table, field = {"dyn": ("contact", "lastname"), "sf": ("Contact", "LastName")}[connection]
    mapping = f"""inbound:
  mappings:
    - name: people
      connection: {connection}
      crm_table: {table}
      resource: profile
      primary_key: {{campaign: external_id}}
      fields:
        - {{crm: {field}, campaign: last_name}}
"""
    secret = SecretStr(SECRET)
    emulator = (
        create_dataverse(DataverseEmulatorSettings(client_id=CLIENT_ID, client_secret=secret))
        if connection == "dyn"
        else create_salesforce(
            SalesforceEmulatorSettings(client_id=CLIENT_ID, client_secret=secret)
        )
    )
    crm = BackgroundServer(emulator.app, tls=tls)
    crm.start()
    # Only this connection's CRM runs; nothing answers at the other's address.
    urls = {"dyn": "https://127.0.0.1:9", "sf": "https://127.0.0.1:9"} | {connection: crm.url}
    try:
        async with _serve(tmp_path, urls, tls, Role.OPERATOR, mapping) as operator:
            asked = await operator.post("/api/mappings/people/replay")
            assert asked.status_code == 200, asked.text
            assert asked.json()["status"] == "pending"
            again = await operator.post("/api/mappings/people/replay")
            assert (again.status_code, again.json()["code"]) == (409, "REPLAY_PENDING")
            engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
            state = StateStore(engine)
            assert state.replays.take("people") is not None  # as the next start of inbound does

            crm.stop()
            down = await operator.post("/api/mappings/people/replay")
            assert down.status_code == 502, down.text
            detail = down.json()["detail"]
            assert detail.startswith(
                f"connection '{connection}' could not count the records of '{table}': "
            )
            assert crm.url.removeprefix("https://") in detail  # where it could not reach
            assert detail.endswith("no replay was recorded: ask again once the CRM answers")
            assert state.replays.pending() == []
            # A replay pending already is said so, the CRM down or not (never counted).
            state.replays.request("people", backlog=0, table_rows=0)
            pending = await operator.post("/api/mappings/people/replay")
            assert (pending.status_code, pending.json()["code"]) == (409, "REPLAY_PENDING")
            assert len(state.replays.pending()) == 1
            engine.dispose()
    finally:
        crm.stop()
        emulator.close()
