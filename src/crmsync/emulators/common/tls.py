"""Local TLS material for the emulators: a throw-away CA and a server certificate it signs.

Real clients (httpx, requests, MSAL, the Dataverse SDK, simple-salesforce) insist on HTTPS with a
trusted certificate; pointing them at this CA file lets them talk to an emulator unchanged.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TlsFiles", "TlsMaterial", "generate"]

_DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
_VALIDITY = timedelta(days=397)  # the longest lifetime public clients accept for server certs


@dataclass(slots=True, frozen=True)
class TlsFiles:
    """Where :meth:`TlsMaterial.write` put the PEM files."""

    cert: Path  # server certificate followed by the CA certificate (a full chain)
    key: Path  # server private key, mode 0600
    ca: Path  # CA certificate: what clients must trust


@dataclass(slots=True, frozen=True)
class TlsMaterial:
    """PEM-encoded CA certificate, server certificate and server private key."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path) -> TlsFiles:
        """Write ``ca.pem``, ``server.pem`` and ``server-key.pem`` (0600) into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        files = TlsFiles(
            cert=directory / "server.pem", key=directory / "server-key.pem", ca=directory / "ca.pem"
        )
        files.ca.write_bytes(self.ca_pem)
        files.cert.write_bytes(self.cert_pem + self.ca_pem)
        # Create the key file with its final mode so the key is never readable by others.
        fd = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.key_pem)
        files.key.chmod(0o600)
        return files


def generate(hosts: Sequence[str] = ()) -> TlsMaterial:
    """A new CA and a server certificate for ``localhost``, ``127.0.0.1``, ``::1`` and ``hosts``."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crmsync emulator local CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    names = list(dict.fromkeys([*_DEFAULT_HOSTS, *hosts]))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(_san(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return TlsMaterial(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _san(names: Sequence[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for name in names:
        host = name.strip("[]")
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or any(ch.isspace() or ch in "/:@" for ch in host):
                raise ValueError(f"not a host name or IP address: {name!r}") from None
            entries.append(x509.DNSName(host))
    return entries
