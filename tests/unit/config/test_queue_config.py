"""The ``queue`` section: the SQLite and NATS kinds, each with its own keys, checked with clear
messages; the NATS secrets named by where they are, never written in the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crmsync.config import check_config_text, load_config_text

STORE = "store:\n  url: postgresql+psycopg://crmsync@db/campaign\n"


def queue_errors(section: str, store: str = STORE) -> list[str]:
    report = check_config_text(store + "queue:\n" + section, source="c.yaml", environ={})
    return [str(issue) for issue in report.errors]


def nats(extra: str = "", url: str = "tls://n1:4222") -> str:
    return f"  kind: nats\n  url: {url}\n{extra}"


def test_a_nats_queue_with_one_server_or_several() -> None:
    config = load_config_text(STORE + "queue:\n" + nats(), environ={})
    assert config.queue.url == ("tls://n1:4222",)
    assert config.queue.stream == "CRMSYNC"
    assert config.queue.max_deliver == 20
    assert config.queue.uses_tls
    text = STORE + "queue:\n  kind: nats\n  url: [nats://n1:4222, nats://n2:4222]\n"
    several = load_config_text(text + "  stream: SYNC_1\n  max_deliver: 5\n  replicas: 3\n")
    assert several.queue.url == ("nats://n1:4222", "nats://n2:4222")
    assert (several.queue.stream, several.queue.max_deliver, several.queue.replicas) == (
        "SYNC_1",
        5,
        3,
    )
    assert not several.queue.uses_tls


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://n1:4222", "is not a NATS server URL: nats://HOST:PORT or tls://HOST:PORT"),
        ("nats://", "is not a NATS server URL"),
        ("nats://bob:pw@n1:4222", "must not carry credentials: use 'user' with 'password_env'"),
        ("nats://n1:4222/x", "must be a server address only"),
        ("[nats://n1:4222, tls://n2:4222]", "every NATS URL must use the same scheme"),
    ],
)
def test_bad_server_urls_are_refused(url: str, problem: str) -> None:
    (message,) = queue_errors(nats(url=url))
    assert message.startswith("c.yaml:")
    assert problem in message
    assert "pw" not in message.replace("password_env", "")


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("  path: q.db\n" + nats(), "'path' goes with 'kind: sqlite'"),
        ("  kind: sqlite\n  stream: S\n", "'stream' goes with 'kind: nats'"),
        ("  tls: {ca_file: ca.pem}\n", "'tls' goes with 'kind: nats'"),
        (nats("  stream: a.b\n"), "queue.stream: "),
        (nats("  replicas: 7\n"), "queue.replicas: "),
        (nats("  max_deliver: 0\n"), "queue.max_deliver: "),
        (nats("  user: bob\n"), "'user' and 'password_env' or 'password_file' go together"),
        (nats("  password_env: P\n"), "'user' and 'password_env' or 'password_file' go together"),
        (nats("  token_env: T\n  token_file: t\n"), "give one of 'token_env' and 'token_file'"),
        (nats("  token_env: T\n  creds_file: u.creds\n"), "give one way to sign in to NATS"),
        (nats("  tls: {cert_file: c.pem}\n"), "'cert_file' and 'key_file' go together"),
        (nats("  tls: {verify: false}\n"), "queue.tls.verify: "),
    ],
)
def test_keys_are_checked_with_their_place(section: str, problem: str) -> None:
    (message,) = queue_errors(section)
    assert problem in message


def test_a_secret_written_in_the_file_is_refused_without_echoing_it() -> None:
    (message,) = queue_errors(nats("  user: bob\n  password: hunter2-topsecret\n"))
    assert "queue.password: secrets must not be written in the settings" in message
    assert "password_env" in message
    assert "hunter2" not in message
    (token,) = queue_errors(nats("  token: s3cr3t-token\n"))
    assert "queue.token: secrets must not be written" in token
    assert "s3cr3t" not in token


def test_a_password_or_token_is_never_sent_in_clear_text() -> None:
    (message,) = queue_errors(nats("  token_env: T\n", url="nats://n1:4222"))
    assert "would cross the network in clear text: use tls:// URLs" in message
    assert queue_errors(nats("  token_env: T\n  tls: {ca_file: ca.pem}\n", url="nats://n:1")) == []
    assert queue_errors(nats("  nkey_seed_file: user.nk\n", url="nats://n1:4222")) == []
    assert queue_errors(nats("  creds_file: user.creds\n", url="nats://n1:4222")) == []


def test_a_nats_queue_with_a_sqlite_store_is_refused() -> None:
    (message,) = queue_errors(nats(), store="store:\n  url: sqlite:///crmsync.db\n")
    assert message.startswith("c.yaml:4: queue.kind: a NATS queue is for several processes")
    assert "postgresql+psycopg://" in message


def test_files_resolve_against_the_configuration_folder(tmp_path: Path) -> None:
    section = nats(
        "  user: bob\n  password_file: secrets/nats-password\n"
        "  tls: {ca_file: certs/ca.pem, cert_file: /etc/crmsync/c.pem, key_file: certs/k.pem}\n"
    )
    config = load_config_text(STORE + "queue:\n" + section, base=tmp_path)
    assert config.queue.password_file == tmp_path / "secrets" / "nats-password"
    assert config.queue.tls is not None
    assert config.queue.tls.ca_file == tmp_path / "certs" / "ca.pem"
    assert config.queue.tls.cert_file == Path("/etc/crmsync/c.pem")
    assert config.queue.tls.key_file == tmp_path / "certs" / "k.pem"
    assert config.queue.model_fields_set == {"kind", "url", "user", "password_file", "tls"}


def test_secrets_and_files_that_cannot_be_read_are_warnings(tmp_path: Path) -> None:
    section = nats("  token_env: NATS_TOKEN\n  tls: {ca_file: ca.pem}\n", url="nats://n1:4222")
    report = check_config_text(STORE + "queue:\n" + section, environ={}, base=tmp_path)
    assert report.ok
    warnings = sorted(str(issue) for issue in report.warnings)
    assert warnings == [
        "<config>:6: warning: queue.token_env: environment variable 'NATS_TOKEN' is not set or "
        "empty",
        f"<config>:7: warning: queue.tls.ca_file: file '{tmp_path / 'ca.pem'}' does not exist",
    ]
    (tmp_path / "ca.pem").write_text("x")
    found = check_config_text(
        STORE + "queue:\n" + section, environ={"NATS_TOKEN": "t"}, base=tmp_path
    )
    assert found.issues == ()


@pytest.mark.parametrize("section", ["  kind: sqlite\n  path: q.db\n", nats("  stream: SYNC\n")])
def test_a_dumped_configuration_loads_again(section: str) -> None:
    """A dump holds every key, those of the other kind at their defaults: they say nothing."""
    config = load_config_text(STORE + "queue:\n" + section, environ={})
    dumped = yaml.safe_dump(config.model_dump(mode="json", by_alias=True))
    again = load_config_text(dumped, environ={})
    assert again.queue == config.queue
