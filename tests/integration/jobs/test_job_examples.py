"""The shipped example jobs, run against the emulators."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from jobs_support import Crm

from crmsync.config import Config
from crmsync.connectors.base import WriteOp
from crmsync.jobs import ConnectorPool, JobRunner, JobStore, load_job_text
from crmsync.store import create_engine_for, publish
from crmsync.store.writes import upsert_batch

EXAMPLES = Path(__file__).parents[3] / "examples" / "jobs"


def _env(tmp_path: Path) -> tuple[sa.Engine, JobStore]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'campaign.db'}")
    publish(engine, [])
    return engine, JobStore(engine)


async def _run(crm: Crm, name: str, engine: sa.Engine, store: JobStore, text: str) -> str:
    pool = ConnectorPool(Config(), connectors={name: (crm.dialect, crm.connect())})  # type: ignore[dict-item]
    try:
        runner = JobRunner(store, engine, pool, now=crm.emulator.clock.now)
        return await runner.run(load_job_text(text), text)
    finally:
        await pool.aclose()


def _files(folder: Path, pattern: str) -> list[str]:
    return [path.read_text() for path in folder.glob(pattern)]


def _profiles(engine: sa.Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM profile ORDER BY external_id"))
        return [dict(row._mapping) for row in rows]


async def test_dynamics_contacts_import(dataverse: Crm, tmp_path: Path) -> None:
    engine, store = _env(tmp_path)
    tag = "X" + uuid.uuid4().hex[:8]
    connector = dataverse.connect()
    try:
        email = f"{tag}@example.com"
        values = [
            {
                "lastname": tag,
                "firstname": "Old",
                "emailaddress1": email,
                "birthdate": "1990-05-01",
            },
            {"lastname": tag, "firstname": "New", "emailaddress1": email.upper()},
            {"lastname": tag, "firstname": "Other", "emailaddress1": f"o{email}"},
            {"lastname": tag, "firstname": "NoMail"},
        ]
        # "Old" is modified a second before "New": `keep: last` after ordering by modifiedon
        # must pick "New" (within one second the order of the two would be arbitrary).
        first = await connector.write([WriteOp("create", "contact", values[0])])
        dataverse.emulator.clock.advance(1)
        rest = await connector.write([WriteOp("create", "contact", v) for v in values[1:]])
        assert all(r.ok for r in [*first, *rest])
    finally:
        await connector.aclose()
    text = (EXAMPLES / "dynamics_contacts_import.yaml").read_text()
    text = text.replace(
        "      - {field: emailaddress1, op: is_not_empty}\n",
        f"      - {{field: emailaddress1, op: is_not_empty}}\n"
        f"      - {{join: and, field: lastname, op: eq, value: {tag}}}\n",
    )
    # Records stamped in the current second belong to the next window: let it pass.
    dataverse.emulator.clock.advance(2)
    try:
        run_id = await _run(dataverse, "dynamics", engine, store, text)
        again = await _run(dataverse, "dynamics", engine, store, text)
    finally:
        dataverse.emulator.clock.set(datetime.now(UTC))
    profiles = [p for p in _profiles(engine) if p["last_name"] == tag]
    assert sorted(str(p["first_name"]) for p in profiles) == ["New", "Other"]
    first_end = store.variables(run_id)["crmEndDate"]
    assert store.variables(again)["crmStartImport"] == first_end
    assert (
        store.option("LASTIMPORT_dynamics_contacts_import")
        == (store.variables(again)["crmEndDate"])
    )
    assert store.steps(again)[0].counts == {"read": 0}
    engine.dispose()


async def test_salesforce_profiles_export(salesforce: Crm, tmp_path: Path) -> None:
    engine, store = _env(tmp_path)
    tag = "Y" + uuid.uuid4().hex[:8]
    table = sa.Table("profile", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        upsert_batch(
            conn,
            table,
            "external_id",
            [
                {
                    "external_id": f"{tag}-{n}",
                    "email": f"{n}@{tag}.example",
                    "first_name": "P",
                    "last_name": None if n == 0 else tag,
                    "birth_date": date(1980, 1, 2),
                    "country": tag,
                }
                for n in range(250)
            ],
            version_field=None,
        )
    text = (EXAMPLES / "salesforce_profiles_export.yaml").read_text()
    text = text.replace("seconds: 60", "seconds: 0").replace(
        "{country: France}", f"{{country: {tag}}}"
    )
    text = text.replace("path: salesforce-export", f"path: {tmp_path}/salesforce-export")
    run_id = await _run(salesforce, "salesforce", engine, store, text)
    steps = [(s.step, s.counts) for s in store.steps(run_id)]
    assert steps[1] == ("export", {"exported": 249, "rejected": 1})
    assert [name for name, _ in steps] == [
        "profiles",
        "export",
        "pause",
        "retry",
        "export",
        "pause",
        "retry",
        "still-rejected",
    ]
    (written,) = _files(tmp_path, "salesforce-export-rejects-*.jsonl")
    assert "REQUIRED_FIELD_MISSING" in written
    engine.dispose()


async def test_crm_deletions(salesforce: Crm, tmp_path: Path) -> None:
    engine, store = _env(tmp_path)
    connector = salesforce.connect()
    try:
        results = await connector.write(
            [WriteOp("create", "Contact", {"LastName": f"Del{n}"}) for n in range(3)]
        )
        ids = [str(r.id) for r in results]
        await connector.write([WriteOp("delete", "Contact", id=i) for i in ids[:2]])
    finally:
        await connector.aclose()
    table = sa.Table("profile", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        upsert_batch(
            conn, table, "external_id", [{"external_id": i} for i in ids], version_field=None
        )
    salesforce.emulator.clock.advance(120)
    try:
        text = (EXAMPLES / "crm_deletions.yaml").read_text()
        await _run(salesforce, "salesforce", engine, store, text)
    finally:
        salesforce.emulator.clock.set(datetime.now(UTC))
    assert [p["external_id"] for p in _profiles(engine)] == [ids[2]]
    engine.dispose()
