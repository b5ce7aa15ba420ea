"""Compiled mappings on records read over HTTPS from the Dataverse emulator, written to the store.

Every field of the emulator's ``contact`` is mapped into a resource generated from the same
metadata, so each CRM type the emulator serves goes through its default conversion and lands in
a real SQLite table.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from crmsync.config.models import InboundMapping
from crmsync.connectors.base import Record, TableInfo
from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.dataverse.app import create_emulator
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.errors import RejectError
from crmsync.mapping.discovery import definition_from_table, generated_field_names
from crmsync.store.engine import create_engine_for
from crmsync.store.publish import publish
from crmsync.store.resources import PROFILE
from crmsync.store.tables import build_metadata, definitions_with_profile
from crmsync.store.writes import upsert_batch
from crmsync.sync.transform import CompiledMapping, compile_mapping

CLIENT_ID = "6f1c2d4e-0000-4000-8000-000000000002"
SECRET = "emulator-secret-value"
SECRET_ENV = "CRMSYNC_TEST_SECRET"
CONTACTS = 150


@pytest.fixture(autouse=True)
def _no_ca_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(tls: TlsFiles) -> Iterator[BackgroundServer]:
    emulator = create_emulator(
        DataverseEmulatorSettings(
            client_id=CLIENT_ID,
            client_secret=SecretStr(SECRET),
            seed_contacts=CONTACTS,
            seed_accounts=5,
        )
    )
    with BackgroundServer(emulator.app, tls=tls) as running:
        yield running
    emulator.close()


def _config(server: BackgroundServer, tls: TlsFiles) -> DataverseConnectionConfig:
    return DataverseConnectionConfig(
        url=server.url,
        tenant_id="mytenant",
        authority=f"{server.url}/mytenant",
        client_id=CLIENT_ID,
        client_secret_env=SECRET_ENV,
        ca_bundle=tls.ca,
        page_size=100,
    )


def _mapping(table: TableInfo, **overrides: Any) -> InboundMapping:
    names = generated_field_names(table)
    key = names.pop(table.primary_key)
    data: dict[str, Any] = {
        "name": "contacts",
        "connection": "dynamics",
        "crm_table": table.name,
        "resource": "crm_contact",
        "primary_key": {"campaign": key},
        "fields": [{"crm": crm, "campaign": campaign} for crm, campaign in names.items()],
        **overrides,
    }
    return InboundMapping.model_validate(data)


async def _read(
    server: BackgroundServer, tls: TlsFiles, *, display: bool
) -> tuple[CompiledMapping, list[Record], Any]:
    async with DataverseConnector(_config(server, tls), environ={SECRET_ENV: SECRET}) as crm:
        table = await crm.describe("contact")
        resource = definition_from_table(table, "crm_contact")
        mode = "display" if display else "technical"
        compiled = compile_mapping(
            _mapping(table, picklist_values=mode),
            table,
            resource,
            resources={"profile": PROFILE, "crm_contact": resource},
        )
        records = [r async for page in crm.read_all("contact", compiled.crm_fields) for r in page]
    return compiled, records, resource


async def test_every_seeded_contact_converts_and_is_stored(
    server: BackgroundServer, tls: TlsFiles, tmp_path: Path
) -> None:
    compiled, records, resource = await _read(server, tls, display=False)
    assert len(records) >= CONTACTS
    rows: list[dict[str, Any]] = []
    rejects: list[RejectError] = []
    for record in records:
        try:
            rows.append({**compiled.to_row(record), "source_version": record.version})
        except RejectError as exc:
            rejects.append(exc)
    assert rejects == []

    names = generated_field_names_by_crm(compiled)
    sample = [row for row in rows if row[names["birthdate"]] is not None]
    assert sample
    assert all(type(row[names["birthdate"]]) is date for row in sample)
    assert all(row[names["modifiedon"]].tzinfo is UTC for row in rows)
    assert all(isinstance(row[names["gendercode"]], str | None) for row in rows)

    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        publish(engine, [resource])
        table = build_metadata(definitions_with_profile([resource])).tables["crm_contact"]
        with engine.begin() as conn:
            result = upsert_batch(conn, table, compiled.key_field, rows, origin="crm:dynamics")
        assert result.inserted == len(rows)
        with engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            modified = conn.execute(sa.select(table.c[names["modifiedon"]])).scalars().all()
        assert stored == len(rows)
        assert all(isinstance(value, datetime) and value.tzinfo is UTC for value in modified)
    finally:
        engine.dispose()


async def test_display_mode_writes_the_labels_the_crm_formatted(
    server: BackgroundServer, tls: TlsFiles
) -> None:
    compiled, records, _ = await _read(server, tls, display=True)
    names = generated_field_names_by_crm(compiled)
    seen = 0
    for record in records:
        row = compiled.to_row(record)
        if record.values.get("gendercode") is not None:
            assert row[names["gendercode"]] == record.formatted["gendercode"]
            seen += 1
    assert seen


def generated_field_names_by_crm(compiled: CompiledMapping) -> dict[str, str]:
    """CRM field → Campaign column of the generated mapping (same order as ``crm_fields``)."""
    mapped = compiled.crm_fields[1 : len(compiled.columns)]
    return dict(zip(mapped, compiled.columns[1:], strict=True))
