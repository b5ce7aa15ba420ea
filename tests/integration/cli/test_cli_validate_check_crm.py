"""``crmsync validate --check-crm`` over HTTPS against both emulators: every problem the CRM's
metadata reveals is reported at once at its line, a connection that cannot be used is one clear
error, and a correct file passes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from crmsync.cli.main import app
from crmsync.emulators.common.server import BackgroundServer
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.emulators.dataverse.app import create_emulator as create_dataverse
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.salesforce.app import create_emulator as create_salesforce
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings

CLIENT_ID = "6f1c2d4e-0000-4000-8000-0000000c4ec7"
SECRET = "check-crm-secret"
SECRET_VARIABLE = "CHECK_CRM_SECRET"
ENV = {SECRET_VARIABLE: SECRET}


@dataclass(frozen=True)
class Names:
    """The names of one CRM's contact table and fields, and of a table without change tracking
    (``None`` where every table has it)."""

    kind: str
    contact: str
    first: str
    last: str
    email: str
    #: A misspelling of ``email``.
    typo: str
    missing_table: str
    untracked: str | None


NAMES = {
    "dataverse": Names(
        "dataverse", "contact", "firstname", "lastname", "emailaddress1", "emailadress1",
        "contacts",
        "crmsync_auditnote",
    ),
    "salesforce": Names(
        "salesforce", "Contact", "FirstName", "LastName", "Email", "Emial", "Contat",
        None,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Crm:
    names: Names
    url: str
    ca: Path

    def connection(
        self, url: str | None = None, variable: str = SECRET_VARIABLE, *, trusted: bool = True
    ) -> str:
        """The ``connections:`` section: connection ``crm`` to the emulator (or to ``url``),
        its secret in ``variable``, the emulator's CA trusted unless not ``trusted``."""
        url = url or self.url
        lines = [f"    kind: {self.names.kind}", f"    url: {url}"]
        if self.names.kind == "dataverse":
            lines.append(f"    authority: {url}/checks")
        lines += [
            f"    client_id: {CLIENT_ID}",
            f"    client_secret_env: {variable}",
            *([f"    ca_bundle: {self.ca}"] if trusted else []),
        ]
        return "connections:\n  crm:\n" + "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("check-crm-tls"))


@pytest.fixture(scope="module", params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    secret = SecretStr(SECRET)
    emulator: Any = (
        create_dataverse(DataverseEmulatorSettings(client_id=CLIENT_ID, client_secret=secret))
        if request.param == "dataverse"
        else create_salesforce(
            SalesforceEmulatorSettings(client_id=CLIENT_ID, client_secret=secret)
        )
    )
    try:
        with BackgroundServer(emulator.app, tls=tls) as server:
            yield Crm(NAMES[request.param], server.url, tls.ca)
    finally:
        emulator.close()


RESOURCES = """\
resources:
  - name: note
    identifier: crm_id
    fields:
      - {name: crm_id, type: string, length: 36}
  - name: audit
    identifier: crm_id
    fields:
      - {name: crm_id, type: string, length: 36}
"""


def _contacts(names: Names, *fields: tuple[str, str]) -> str:
    lines = [
        "  - name: contacts",
        "    connection: crm",
        f"    crm_table: {names.contact}",
        "    resource: profile",
        "    primary_key: {campaign: external_id}",
        "    fields:",
        *(f"      - {{crm: {crm}, campaign: {campaign}}}" for crm, campaign in fields),
    ]
    return "\n".join(lines) + "\n"


def _mapping(name: str, table: str, resource: str) -> str:
    return (
        f"  - name: {name}\n    connection: crm\n    crm_table: {table}\n"
        f"    resource: {resource}\n    primary_key: {{campaign: crm_id}}\n"
    )


def _write(folder: Path, text: str) -> Path:
    path = folder / "crmsync.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _validate(path: Path, *options: str, env: dict[str, str] = ENV) -> tuple[int, Any, str]:
    done = CliRunner().invoke(
        app, ["validate", "--config", str(path), "--check-crm", *options], env=env
    )
    document = json.loads(done.stdout) if "--json" in options else done.stdout
    return done.exit_code, document, done.stderr


def _line(text: str, snippet: str) -> int:
    """The 1-based line of ``text`` where ``snippet`` first appears."""
    return text[: text.index(snippet)].count("\n") + 1


def test_every_crm_problem_is_reported_at_once_at_its_line(tmp_path: Path, crm: Crm) -> None:
    names = crm.names
    typo = names.typo
    mappings = _contacts(
        names, (names.first, "first_name"), (typo, "email"), (names.last, "birth_date")
    ) + _mapping("notes", names.missing_table, "note")
    if names.untracked:
        mappings += _mapping("audits", names.untracked, "audit")
    text = crm.connection() + RESOURCES + "inbound:\n  mappings:\n" + mappings
    code, document, stderr = _validate(_write(tmp_path, text), "--json")

    assert code == 1, stderr
    assert document["valid"] is False
    assert document["crm_connections"] == {"crm": "checked"}
    found = {issue["path"]: issue for issue in document["issues"]}
    unknown = found["inbound.mappings[0].fields[1].crm"]
    assert f"unknown field '{typo}'" in unknown["message"]
    assert f"did you mean '{names.email}'" in unknown["message"]
    assert unknown["line"] == _line(text, f"{{crm: {typo},")
    wrong_type = found["inbound.mappings[0].fields[2].campaign"]
    assert (
        "(String) cannot be written to Campaign field 'birth_date' (date)"
        in (wrong_type["message"])
    )
    assert wrong_type["line"] == _line(text, "campaign: birth_date")
    table = found["inbound.mappings[1].crm_table"]
    assert f"no table '{names.missing_table}'" in table["message"]
    assert f"did you mean '{names.contact}'" in table["message"]
    assert table["line"] == _line(text, f"crm_table: {names.missing_table}")
    expected = {
        "inbound.mappings[0].fields[1].crm",
        "inbound.mappings[0].fields[2].campaign",
        "inbound.mappings[1].crm_table",
    }
    if names.untracked:
        untracked = found["inbound.mappings[2].crm_table"]
        assert "change tracking is not enabled" in untracked["message"]
        assert untracked["severity"] == "error"
        expected.add("inbound.mappings[2].crm_table")
    assert {i["path"] for i in document["issues"] if i["severity"] == "error"} == expected


def test_a_correct_file_passes(tmp_path: Path, crm: Crm) -> None:
    names = crm.names
    mappings = _contacts(names, (names.first, "first_name"), (names.email, "email"))
    path = _write(tmp_path, crm.connection() + "inbound:\n  mappings:\n" + mappings)

    code, document, stderr = _validate(path, "--json")
    assert code == 0, document
    assert document == {
        "source": str(path),
        "valid": True,
        "issues": [],
        "crm_connections": {"crm": "checked"},
    }
    assert "connections checked: crm" in stderr

    code, output, _ = _validate(path)
    assert code == 0
    assert "valid" in output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("problem", ["unreachable", "untrusted", "refused", "no secret"])
def test_a_connection_that_cannot_be_used_is_one_error(
    tmp_path: Path, crm: Crm, problem: str
) -> None:
    names = crm.names
    url = f"https://127.0.0.1:{_free_port()}" if problem == "unreachable" else None
    env = {SECRET_VARIABLE: "not-the-secret"} if problem == "refused" else ENV
    variable = "CHECK_CRM_UNSET" if problem == "no secret" else SECRET_VARIABLE
    mappings = _contacts(names, (names.first, "first_name"), ("nosuchfield", "email"))
    connection = crm.connection(url, variable, trusted=problem != "untrusted")
    text = connection + "inbound:\n  mappings:\n" + mappings
    code, document, stderr = _validate(_write(tmp_path, text), "--json", env=env)

    assert code == 1, stderr
    assert document["crm_connections"] == {"crm": "unusable"}
    errors = [issue for issue in document["issues"] if issue["severity"] == "error"]
    assert len(errors) == 1, errors
    (error,) = errors
    assert error["path"] == "connections.crm"
    assert error["line"] == _line(text, "crm:")
    assert error["message"].startswith("cannot use the connection: ")
    assert error["message"].endswith("; not checked against the CRM: inbound.mappings[0]")
    reason = {
        "unreachable": "ConnectError",  # the token endpoint cannot be reached
        "untrusted": "ca_bundle",  # what to set
        "refused": "refused",
        "no secret": "CHECK_CRM_UNSET",
    }[problem]
    assert reason in error["message"]
    assert SECRET not in json.dumps(document)
    assert "Traceback" not in stderr


def test_without_a_connection_in_use_there_is_nothing_to_check(tmp_path: Path, crm: Crm) -> None:
    path = _write(tmp_path, crm.connection())
    code, document, stderr = _validate(path, "--json")
    assert code == 0
    assert document["crm_connections"] == {}
    assert "nothing to check against the CRM" in stderr


def test_a_two_way_setting_that_cannot_be_written_back_is_refused_at_its_path(
    tmp_path: Path, crm: Crm
) -> None:
    names = crm.names
    mappings = (
        _contacts(names, (names.first, "first_name"), (names.last, "last_name"))
        + "    two_way: true\n"
        + "    replacements:\n"
        + f"      - {{field: {names.last}, from: Smith, to: Unknown}}\n"
        + f"      - {{field: {names.last}, from: Jones, to: Unknown}}\n"
    )
    text = crm.connection() + "inbound:\n  mappings:\n" + mappings
    code, document, stderr = _validate(_write(tmp_path, text), "--json")

    assert code == 1, stderr
    errors = [issue for issue in document["issues"] if issue["severity"] == "error"]
    assert [issue["path"] for issue in errors] == ["inbound.mappings[0].replacements[1].to"]
    assert "'Smith' and 'Jones'" in errors[0]["message"]
    assert "cannot be written back to one CRM value" in errors[0]["message"]
    assert errors[0]["line"] == _line(text, "from: Jones")

    # Without the ambiguous replacement the same two-way mapping passes.
    fixed = text[: text.index("      - {field: " + names.last + ", from: Jones")]
    code, document, stderr = _validate(_write(tmp_path, fixed), "--json")
    assert code == 0, document
