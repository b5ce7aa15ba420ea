"""The queue the configuration names: opened with its settings; a NATS queue's TLS (verified,
and required when asked for) and sign-in, against NATS servers of the tests' own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crmsync.config import load_config_text
from crmsync.config.models import Config
from crmsync.emulators.common.tls import CertificateAuthority, TlsFiles
from crmsync.queue import Change, ChangeMessage
from crmsync.queue.errors import QueueError, QueueUnavailableError
from crmsync.queue.nats import NatsQueue
from crmsync.queue.sqlite import SQLiteQueue
from crmsync.runtime.queues import check_queue, init_queue, nats_connection, open_queue
from nats_support import NatsServer

STORE = "store:\n  url: postgresql+psycopg://crmsync@db/campaign\n"
SECRET = "pässword-123"


@pytest.fixture
def authority() -> CertificateAuthority:
    return CertificateAuthority.create()


@pytest.fixture
def tls(tmp_path: Path, authority: CertificateAuthority) -> TlsFiles:
    return authority.issue([]).write(tmp_path / "tls")


def client_certificate(authority: CertificateAuthority, folder: Path) -> tuple[Path, Path]:
    """A client certificate (and its key) that ``authority`` signed, written in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crmsync")]))
        .issuer_name(authority.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(authority.key, hashes.SHA256())
    )
    cert_file, key_file = folder / "client.pem", folder / "client-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def nats_config(section: str, folder: Path) -> Config:
    return load_config_text(STORE + "queue:\n  kind: nats\n" + section, base=folder)


async def test_the_sqlite_queue_gets_the_configured_max_deliver(tmp_path: Path) -> None:
    config = load_config_text("queue:\n  path: q.db\n  max_deliver: 3\n", base=tmp_path)
    queue = open_queue(config, ack_wait_seconds=12)
    assert isinstance(queue, SQLiteQueue)
    assert (queue.path, queue.max_deliver, queue.ack_wait_seconds) == (tmp_path / "q.db", 3, 12)
    await queue.aclose()
    assert await check_queue(config) == []


async def test_a_nats_queue_over_tls_with_a_password(
    nats_server: Callable[..., NatsServer], tls: TlsFiles, tmp_path: Path
) -> None:
    server = nats_server(
        "--tls", "--tlscert", str(tls.cert), "--tlskey", str(tls.key),
        "--user", "crmsync", "--pass", SECRET,
    )  # fmt: skip
    section = (
        f"  url: tls://127.0.0.1:{server.port}\n  stream: SECURE\n  max_deliver: 4\n"
        f"  tls: {{ca_file: {tls.ca}}}\n  user: crmsync\n  password_env: NATS_PASSWORD\n"
    )
    config = nats_config(section, tmp_path)
    environ = {"NATS_PASSWORD": SECRET}
    assert SECRET not in repr(nats_connection(config.queue, environ))
    said = await init_queue(config, environ)
    assert said.startswith("stream 'SECURE' created")
    assert await check_queue(config, environ) == []
    queue = open_queue(config, ack_wait_seconds=9, environ=environ)
    assert isinstance(queue, NatsQueue)
    assert (queue.stream, queue.max_deliver, queue.ack_wait_seconds) == ("SECURE", 4, 9)
    await queue.publish([ChangeMessage("contacts", [Change("delete", "a"), Change("delete", "b")])])
    assert await queue.backlog() == 2
    await queue.aclose()

    [wrong] = await check_queue(config, {"NATS_PASSWORD": "not-it"})
    assert wrong.loc == ("queue", "url")
    assert "authorization violation" in wrong.message.lower()
    assert "not-it" not in wrong.message


async def test_a_certificate_no_configured_authority_signed_is_refused(
    nats_server: Callable[..., NatsServer], tls: TlsFiles, tmp_path: Path
) -> None:
    server = nats_server("--tls", "--tlscert", str(tls.cert), "--tlskey", str(tls.key))
    config = nats_config(f"  url: tls://127.0.0.1:{server.port}\n", tmp_path)
    [issue] = await check_queue(config)
    assert "certificate verify failed" in issue.message


async def test_tls_asked_for_is_required_of_the_server(
    nats_server: Callable[..., NatsServer], tls: TlsFiles, tmp_path: Path
) -> None:
    server = nats_server()
    section = f"  url: nats://127.0.0.1:{server.port}\n  tls: {{ca_file: {tls.ca}}}\n"
    config = nats_config(section, tmp_path)
    [issue] = await check_queue(config)
    assert issue.message == (
        f"NATS at nats://127.0.0.1:{server.port} does not use TLS, which the configuration requires"
    )
    with pytest.raises(QueueError, match="does not use TLS"):
        await init_queue(config)


async def test_a_client_certificate_is_presented_for_mutual_tls(
    nats_server: Callable[..., NatsServer],
    authority: CertificateAuthority,
    tls: TlsFiles,
    tmp_path: Path,
) -> None:
    server = nats_server(
        "--tlsverify", "--tlscert", str(tls.cert), "--tlskey", str(tls.key),
        "--tlscacert", str(tls.ca),
    )  # fmt: skip
    url = f"  url: tls://127.0.0.1:{server.port}\n"
    without = nats_config(url + f"  tls: {{ca_file: {tls.ca}}}\n", tmp_path)
    [refused] = await check_queue(without)
    assert refused.loc == ("queue", "url")
    cert, key = client_certificate(authority, tmp_path)
    pair = f"  tls: {{ca_file: {tls.ca}, cert_file: {cert}, key_file: {key}}}\n"
    config = nats_config(url + pair, tmp_path)
    assert (await init_queue(config)).startswith("stream 'CRMSYNC' created")


async def test_an_unreachable_server_is_named_in_the_error(tmp_path: Path) -> None:
    config = nats_config("  url: [nats://127.0.0.1:1, nats://127.0.0.1:2]\n", tmp_path)
    with pytest.raises(QueueUnavailableError, match=r"nats://127\.0\.0\.1:1, nats://127\.0"):
        await init_queue(config)
