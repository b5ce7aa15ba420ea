"""``crmsync queue init``, ``crmsync validate --check-queue`` and the queue check of
``crmsync run``, against the local NATS server (see ``nats_url`` in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.js.errors
import pytest
from nats.js import api
from typer.testing import CliRunner

from crmsync.cli.main import app

#: Nothing listens there: a command that opened the store first would fail on it instead.
UNREACHABLE_STORE = "postgresql+psycopg://crmsync@127.0.0.1:1/campaign"


async def _stream(url: str, name: str) -> api.StreamInfo | None:
    client = await nats.connect(url)
    try:
        return await client.jetstream().stream_info(name)
    except nats.js.errors.NotFoundError:
        return None
    finally:
        await client.close()


async def _delete(url: str, name: str) -> None:
    client = await nats.connect(url)
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await client.jetstream().delete_stream(name)
    await client.close()


@pytest.fixture
def stream(nats_url: str) -> Iterator[str]:
    """A stream name nobody uses yet; whatever the test makes under it is deleted after."""
    name = f"CRMSYNC_CLI_{uuid.uuid4().hex[:10].upper()}"
    yield name
    asyncio.run(_delete(nats_url, name))


def write_config(folder: Path, url: str, stream: str) -> Path:
    path = folder / "crmsync.yaml"
    path.write_text(
        f"store:\n  url: {UNREACHABLE_STORE}\nqueue:\n  kind: nats\n  url: {url}\n"
        f"  stream: {stream}\n",
        encoding="utf-8",
    )
    return path


def test_queue_init_makes_the_stream_once(tmp_path: Path, nats_url: str, stream: str) -> None:
    config = write_config(tmp_path, nats_url, stream)
    made = CliRunner().invoke(app, ["queue", "init", "--config", str(config)])
    assert made.exit_code == 0, made.output
    assert f"stream '{stream}' created (file storage, work queue" in made.output
    info = asyncio.run(_stream(nats_url, stream))
    assert info is not None
    assert info.config.retention == api.RetentionPolicy.WORK_QUEUE
    assert info.config.storage == api.StorageType.FILE
    assert sorted(info.config.subjects or []) == [f"{stream}.changes.*.*", f"{stream}.dead.*"]
    again = CliRunner().invoke(app, ["queue", "init", "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert f"stream '{stream}' unchanged" in again.output


def test_queue_init_refuses_a_stream_of_another_kind(
    tmp_path: Path, nats_url: str, stream: str
) -> None:
    async def make_limits_stream() -> None:
        client = await nats.connect(nats_url)
        await client.jetstream().add_stream(name=stream, subjects=[f"{stream}.other"])
        await client.close()

    asyncio.run(make_limits_stream())
    config = write_config(tmp_path, nats_url, stream)
    done = CliRunner().invoke(app, ["queue", "init", "--config", str(config)])
    assert done.exit_code == 1
    assert f"stream '{stream}' exists with retention 'limits', not a work queue" in done.output


def test_queue_init_has_nothing_to_do_for_the_sqlite_queue(tmp_path: Path) -> None:
    config = tmp_path / "crmsync.yaml"
    config.write_text("queue:\n  path: q.db\n", encoding="utf-8")
    done = CliRunner().invoke(app, ["queue", "init", "--config", str(config)])
    assert done.exit_code == 0, done.output
    assert "the SQLite queue needs no init" in done.output
    assert not (tmp_path / "q.db").exists()


def test_validate_check_queue_reports_a_missing_stream_then_passes(
    tmp_path: Path, nats_url: str, stream: str
) -> None:
    config = write_config(tmp_path, nats_url, stream)
    command = ["validate", "--config", str(config), "--check-queue", "--json"]
    missing = CliRunner().invoke(app, command)
    assert missing.exit_code == 1
    [issue] = json.loads(missing.output)["issues"]
    assert issue["path"] == "queue.stream"
    assert issue["line"] == 6
    assert "does not exist: create it with 'crmsync queue init --config FILE'" in issue["message"]
    assert CliRunner().invoke(app, ["queue", "init", "--config", str(config)]).exit_code == 0
    found = CliRunner().invoke(app, command)
    assert found.exit_code == 0, found.output
    assert json.loads(found.output)["issues"] == []
    assert CliRunner().invoke(app, ["validate", "--config", str(config)]).exit_code == 0


def test_validate_check_queue_reports_an_unreachable_server(tmp_path: Path) -> None:
    config = write_config(tmp_path, "nats://127.0.0.1:1", "CRMSYNC")
    done = CliRunner().invoke(app, ["validate", "--config", str(config), "--check-queue", "--json"])
    assert done.exit_code == 1
    [issue] = json.loads(done.output)["issues"]
    assert issue["path"] == "queue.url"
    assert "cannot connect to NATS at nats://127.0.0.1:1" in issue["message"]


def test_validate_check_queue_reports_a_secret_it_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRMSYNC_TEST_NATS_TOKEN", raising=False)
    config = tmp_path / "crmsync.yaml"
    config.write_text(
        f"store:\n  url: {UNREACHABLE_STORE}\nqueue:\n  kind: nats\n  url: tls://127.0.0.1:1\n"
        "  token_env: CRMSYNC_TEST_NATS_TOKEN\n",
        encoding="utf-8",
    )
    warned = CliRunner().invoke(app, ["validate", "--config", str(config), "--json"])
    assert warned.exit_code == 0
    [warning] = json.loads(warned.output)["issues"]
    assert warning["severity"] == "warning"
    done = CliRunner().invoke(app, ["validate", "--config", str(config), "--check-queue", "--json"])
    assert done.exit_code == 1
    errors = [i for i in json.loads(done.output)["issues"] if i["severity"] == "error"]
    assert [(i["path"], i["line"]) for i in errors] == [("queue.token_env", 6)]
    assert "'CRMSYNC_TEST_NATS_TOKEN' is not set or empty" in errors[0]["message"]


def test_run_refuses_a_missing_stream_before_it_opens_the_store(
    tmp_path: Path, nats_url: str, stream: str
) -> None:
    config = write_config(tmp_path, nats_url, stream)
    done = CliRunner().invoke(app, ["run", "--once", "--config", str(config), "--no-progress"])
    assert done.exit_code == 1
    assert "queue.stream" in done.output
    assert f"stream '{stream}' does not exist: create it with 'crmsync queue init" in done.output


def test_run_refuses_an_unreachable_server_before_it_opens_the_store(tmp_path: Path) -> None:
    config = write_config(tmp_path, "nats://127.0.0.1:1", "CRMSYNC")
    done = CliRunner().invoke(app, ["run", "--once", "--config", str(config), "--no-progress"])
    assert done.exit_code == 1
    assert "cannot connect to NATS at nats://127.0.0.1:1" in done.output
