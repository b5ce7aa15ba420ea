"""The plan of a two-way mapping's next merge through each face, against the Dataverse emulator
over HTTPS: ``crmsync mapping plan`` (tables and JSON), ``GET /api/mappings/{name}/plan`` and the
console's plan page, linked from the mapping editor."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from twoway_support import (
    ENV,
    Crm,
    config_text,
    contacts_mapping,
    edit,
    make_config,
    run_once,
    running_crm,
)
from typer.testing import CliRunner

from crmsync.api import create_app
from crmsync.api.users import Role, UserStore
from crmsync.cli.main import app as cli
from crmsync.emulators.common.tls import TlsFiles
from crmsync.workflows.supervisor import Supervisor, WorkflowSpec

PASSWORD = "a long enough password"


@dataclass
class Paused:
    """A two-way mapping run once, then a Campaign edit and a CRM edit made while it waits."""

    crm: Crm
    folder: Path
    text: str
    campaign_edited: str
    crm_edited: str


@pytest.fixture
async def paused(tls: TlsFiles, tmp_path: Path) -> AsyncIterator[Paused]:
    with running_crm("dataverse", tls, contacts=3) as crm:
        store = (f"sqlite:///{tmp_path / 'store.db'}", None)
        config = make_config(crm, tmp_path, store)
        await run_once(config)
        first, second = sorted(await crm.records())[:2]
        edit(config, first, city="Ghent")
        await crm.update(second, lastname="Peeters")
        yield Paused(crm, tmp_path, config_text(crm, tmp_path, store), first, second)


async def _never(*_args: object) -> None:
    raise AssertionError("no workflow runs here")


@asynccontextmanager
async def serve(folder: Path, text: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API and the console over the store, a viewer logged in through the console's form."""
    engine = sa.create_engine(f"sqlite:///{folder / 'store.db'}")
    spec = WorkflowSpec(run=_never, backlog=_never)  # type: ignore[arg-type]
    supervisor = Supervisor(
        engine, text, {"inbound": spec, "outbound": spec, "optinout": spec}, environ=ENV
    )
    users = UserStore(engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    users.add("vera", Role.VIEWER, PASSWORD)
    app = create_app(supervisor, users)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        answer = await client.post("/console/login", data={"name": "vera", "password": PASSWORD})
        assert answer.status_code == 303, answer.text
        yield client
    await supervisor.close()
    engine.dispose()


def test_the_cli_prints_the_plan_as_tables_and_as_json(paused: Paused) -> None:
    path = paused.folder / "crmsync.yaml"
    path.write_text(paused.text, encoding="utf-8")
    runner = CliRunner()
    shown = runner.invoke(cli, ["mapping", "plan", "contacts", "--config", str(path)], env=ENV)
    assert shown.exit_code == 0, shown.output
    assert "Campaign → CRM: 1 records, 1 fields, 0 conflicts" in shown.output
    assert "CRM → Campaign: 1 records, 1 fields, 0 conflicts" in shown.output
    assert '"Ghent"' in shown.output
    assert '"Peeters"' in shown.output

    args = ["mapping", "plan", "contacts", "--config", str(path), "--json"]
    as_json = runner.invoke(cli, args, env=ENV)
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    [sent] = document["campaign_to_crm"]["records"]
    assert sent["key"] == paused.campaign_edited
    assert sent["fields"]["city"]["crm_value"] == "Ghent"
    [written] = document["crm_to_campaign"]["records"]
    assert (written["key"], written["fields"]["last_name"]["to"]) == (paused.crm_edited, "Peeters")

    unknown = runner.invoke(cli, ["mapping", "plan", "nope", "--config", str(path)], env=ENV)
    assert unknown.exit_code == 1
    assert "there is no inbound mapping 'nope'" in unknown.output


def test_the_cli_refuses_a_one_way_mapping(paused: Paused) -> None:
    path = paused.folder / "one-way.yaml"
    store = (f"sqlite:///{paused.folder / 'other.db'}", None)
    mapping = contacts_mapping(paused.crm, two_way=False)
    path.write_text(config_text(paused.crm, paused.folder, store, mapping), encoding="utf-8")
    refused = CliRunner().invoke(cli, ["mapping", "plan", "contacts", "--config", str(path)])
    assert refused.exit_code == 1
    assert "mapping 'contacts' is not two-way" in refused.output


async def test_the_api_answers_the_plan_and_its_refusals(paused: Paused) -> None:
    async with serve(paused.folder, paused.text) as client:
        answer = await client.get("/api/mappings/contacts/plan", params={"limit": 5})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["crm_read"] == "changes"
        assert body["counts"]["pending_edits"] == 1
        [sent] = body["campaign_to_crm"]["records"]
        assert sent["fields"]["city"]["to"] == "Ghent"
        assert sent["fields"]["city"]["crm_field"] == "address1_city"
        [written] = body["crm_to_campaign"]["records"]
        assert written["fields"]["last_name"]["from"] != "Peeters"
        assert written["fields"]["last_name"]["to"] == "Peeters"

        unknown = await client.get("/api/mappings/nope/plan")
        assert (unknown.status_code, unknown.json()["code"]) == (404, "UNKNOWN_MAPPING")

        paused.crm.server.stop()
        down = await client.get("/api/mappings/contacts/plan")
        assert down.status_code == 502, down.text
        assert down.json()["detail"].endswith("nothing was planned")


async def test_the_console_shows_the_plan_linked_from_the_editor(paused: Paused) -> None:
    async with serve(paused.folder, paused.text) as client:
        editor = await client.get("/console/mappings/contacts/edit")
        assert editor.status_code == 200
        assert 'href="/console/mappings/contacts/plan"' in editor.text
        page = await client.get("/console/mappings/contacts/plan")
        assert page.status_code == 200, page.text
        assert "Nothing was written" in page.text
        assert "&#34;Ghent&#34;" in page.text or '"Ghent"' in page.text
        assert paused.campaign_edited in page.text
        assert paused.crm_edited in page.text
        missing = await client.get("/console/mappings/nope/plan")
        assert missing.status_code == 404
