"""What the REST API (and so the console) changes is what every command sees: a mapping and the
outbound switches saved through the API over each CRM's emulator, on both stores, then the
command line run against the same configuration file and store, then exported into it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from argon2 import PasswordHasher
from pydantic import SecretStr
from typer.testing import CliRunner

from crmsync.api import create_app
from crmsync.api.users import Role, UserStore
from crmsync.cli.main import app
from crmsync.config.models import Config
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.dataverse.app import create_emulator as create_dataverse
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.salesforce.app import create_emulator as create_salesforce
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.workflows import WORKFLOW_NAMES, open_active_config
from crmsync.workflows.supervisor import Supervisor, WorkflowSpec

CLIENT_ID = "6f1c2d4e-0000-4000-8000-0000000c0f19"
SECRET = "config-cli-secret"
#: The contact table and a name field of each CRM.
CONTACTS = {"dataverse": ("contact", "firstname"), "salesforce": ("Contact", "FirstName")}
SWITCHES = {"send": True, "open": False, "click": False, "bounce": False}


@dataclass(frozen=True)
class Crm:
    kind: str
    url: str
    tls: TlsFiles

    def connection(self) -> str:
        """The connection ``dyn`` of the configuration file, on this CRM."""
        authority = f"\n    authority: {self.url}/tenant" if self.kind == "dataverse" else ""
        return f"""    kind: {self.kind}
    url: {self.url}{authority}
    client_id: {CLIENT_ID}
    client_secret_env: CONFIG_CLI_SECRET
    ca_bundle: {self.tls.ca}"""

    def mapping(self) -> dict[str, object]:
        table, field = CONTACTS[self.kind]
        return {
            "name": "subscriptions",
            "connection": "dyn",
            "crm_table": table,
            "resource": "profile",
            "primary_key": {"campaign": "external_id"},
            "fields": [{"crm": field, "campaign": "first_name"}],
        }


@pytest.fixture(scope="module", params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crm]:
    tls = generate([]).write(tmp_path_factory.mktemp("config-cli-tls"))
    secret = SecretStr(SECRET)
    emulator = (
        create_dataverse(
            DataverseEmulatorSettings(client_id=CLIENT_ID, client_secret=secret, seed_contacts=3)
        )
        if request.param == "dataverse"
        else create_salesforce(
            SalesforceEmulatorSettings(client_id=CLIENT_ID, client_secret=secret, seed_contacts=3)
        )
    )
    with BackgroundServer(emulator.app, tls=tls) as server:
        yield Crm(request.param, server.url, tls)
    emulator.close()


def _config_text(crm: Crm, store: tuple[str, str | None]) -> str:
    schema = f"\n  pg_schema: {store[1]}" if store[1] else ""
    return f"""version: 1
connections:
  dyn:
{crm.connection()}
store:
  url: {store[0]}{schema}
outbound:
  connection: dyn
"""


async def _until_stopped(_config: Config, stop: object, started: object) -> None:
    await started()  # type: ignore[operator]
    await stop.wait()  # type: ignore[attr-defined]


async def _no_backlog(_config: Config) -> int:
    return 0


async def _edit_through_the_api(path: Path, crm: Crm) -> None:
    """What ``crmsync serve`` does with the file, then an admin's edits and the starts that make
    them active (the workflows themselves are stand-ins: only the configuration matters)."""
    spec = WorkflowSpec(run=_until_stopped, backlog=_no_backlog)  # type: ignore[arg-type]
    with open_active_config(path) as active:
        supervisor = Supervisor(
            active.engine,
            active.text,
            dict.fromkeys(WORKFLOW_NAMES, spec),
            base=active.base,
            environ={"CONFIG_CLI_SECRET": SECRET},
        )
        fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        users = UserStore(active.engine, hasher=fast)
        users.add("ada", Role.ADMIN, "a long password")
        headers = {"Authorization": f"Bearer {users.new_token('ada')}"}
        transport = httpx.ASGITransport(app=create_app(supervisor, users))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as api:
            created = await api.post("/api/mappings", json=crm.mapping())
            assert created.status_code == 201, created.text
            switched = await api.put("/api/events/settings", json=SWITCHES)
            assert switched.status_code == 200, switched.text
            for name in ("inbound", "outbound"):
                started = await api.post(f"/api/workflows/{name}/start")
                assert started.status_code == 200, started.text
            assert (await api.get("/api/events/settings")).json() == SWITCHES
            for name in ("inbound", "outbound"):
                assert (await api.post(f"/api/workflows/{name}/stop")).status_code == 200
        await supervisor.close()


def test_every_command_finds_what_the_api_made(
    tmp_path: Path,
    crm: Crm,
    store_location: tuple[str, str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONFIG_CLI_SECRET", SECRET)
    path = tmp_path / "crmsync.yaml"
    path.write_text(_config_text(crm, store_location), encoding="utf-8")
    runner = CliRunner()
    # Before: the file's configuration, no mapping, sends off.
    before = runner.invoke(app, ["status", "--config", str(path), "--json"])
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout)["mappings"] == {}

    asyncio.run(_edit_through_the_api(path, crm))

    status = runner.invoke(app, ["status", "--config", str(path), "--json"])
    assert status.exit_code == 0, status.output
    assert list(json.loads(status.stdout)["mappings"]) == ["subscriptions"]
    # The file no longer says what runs: the commands say so, naming the way out. Each edit
    # changed its own workflow's sections: optinout's revision is still the file.
    notice = " ".join(status.stderr.split())
    assert "differs from the active configuration of inbound (" in notice
    assert ") in inbound.mappings; outbound (" in notice
    assert ") in outbound.events" in notice
    assert "by ada" in notice
    assert "optinout (" not in notice
    assert f"crmsync config export --config {path} --output {path}" in notice

    replay = runner.invoke(app, ["mapping", "replay", "subscriptions", "--config", str(path)])
    assert replay.exit_code == 0, replay.output
    assert "replay of 'subscriptions' requested (3 CRM rows" in " ".join(replay.stderr.split())

    events = runner.invoke(app, ["events", "status", "--config", str(path), "--json"])
    assert events.exit_code == 0, events.output
    assert json.loads(events.stdout)["send"]["enabled"] is True

    optout_log = runner.invoke(app, ["optout", "log", "--config", str(path), "--json"])
    assert optout_log.exit_code == 0, optout_log.output

    # Exported into the file, the console's configuration is the file's: one document holding
    # both edits and the shared sections, no more notice.
    exported = runner.invoke(app, ["config", "export", "-c", str(path), "-o", str(path)])
    assert exported.exit_code == 0, exported.output
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [m["name"] for m in document["inbound"]["mappings"]] == ["subscriptions"]
    assert document["outbound"]["events"] == SWITCHES
    assert document["outbound"]["connection"] == "dyn"
    assert document["connections"]["dyn"]["client_secret_env"] == "CONFIG_CLI_SECRET"
    assert SECRET not in path.read_text(encoding="utf-8")
    assert document["store"] == yaml.safe_load(_config_text(crm, store_location))["store"]
    diff = runner.invoke(app, ["config", "diff", str(path)])
    assert diff.exit_code == 0, diff.output
    again = runner.invoke(app, ["mapping", "replay", "subscriptions", "--config", str(path)])
    assert again.exit_code == 3  # a replay is pending already: refused, but the name is known
    assert "notice" not in again.stderr
    status = runner.invoke(app, ["status", "--config", str(path), "--json"])
    assert status.exit_code == 0, status.output
    assert status.stderr == ""
    # run takes the exported file as it is: nothing applied, nothing refused.
    done = runner.invoke(app, ["run", "--config", str(path), "--once", "--no-progress"])
    assert done.exit_code == 0, done.output
    assert "applied as revision" not in done.stderr
    with open_active_config(path) as active:
        assert active.revision("inbound").author == "ada"
