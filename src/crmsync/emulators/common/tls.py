"""Local TLS material for the emulators: a CA and a server certificate it signs, and the
application certificates clients sign in with.

Real clients (httpx, requests, MSAL, the Dataverse SDK, simple-salesforce) insist on HTTPS with a
trusted certificate; pointing them at this CA file lets them talk to an emulator unchanged. The
CA of ``crmsync emulate --tls --ca-file F`` is kept (``F`` and its key beside it, see
:func:`kept_ca`) so that a restarted emulator is the same server to its clients; tests make a
throw-away one with :func:`generate`.
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
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "ApplicationCertificate",
    "CertificateAuthority",
    "TlsFiles",
    "TlsMaterial",
    "ca_key_path",
    "generate",
    "kept_ca",
]

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
        _write(files.key, self.key_pem, 0o600)
        return files


@dataclass(slots=True, frozen=True)
class CertificateAuthority:
    """The emulator's certificate authority: what clients trust, and the key that signs."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls) -> CertificateAuthority:
        """A new CA, valid from an hour ago for 397 days."""
        now = datetime.now(UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crmsync emulator local CA")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(signs_certificates=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, hosts: Sequence[str] = ()) -> TlsMaterial:
        """A new server certificate for ``localhost``, ``127.0.0.1``, ``::1`` and ``hosts``,
        signed by this CA (and valid no longer than it is)."""
        now = datetime.now(UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        names = list(dict.fromkeys([*_DEFAULT_HOSTS, *hosts]))
        ca_ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(min(now + _VALIDITY, self.cert.not_valid_after_utc))
            .add_extension(x509.SubjectAlternativeName(_san(names)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(signs_certificates=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return TlsMaterial(
            ca_pem=self.pem,
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=_private_pem(key),
        )

    def save(self, ca_file: Path) -> Path:
        """Write the certificate to ``ca_file`` and the key beside it (:func:`ca_key_path`,
        mode 0600); returns the key's path."""
        key_file = ca_key_path(ca_file)
        ca_file.parent.mkdir(parents=True, exist_ok=True)
        _write(key_file, _private_pem(self.key), 0o600)
        _write(ca_file, self.pem, 0o644)
        return key_file

    @classmethod
    def load(cls, ca_file: Path) -> CertificateAuthority | None:
        """The CA kept at ``ca_file`` and its key; ``None`` when either file is missing, the key
        does not sign the certificate, or the CA expires within a day."""
        key_file = ca_key_path(ca_file)
        if not (ca_file.is_file() and key_file.is_file()):
            return None
        try:
            cert = x509.load_pem_x509_certificate(ca_file.read_bytes())
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        except ValueError:
            return None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
            return None
        if cert.not_valid_after_utc < datetime.now(UTC) + timedelta(days=1):
            return None
        return cls(cert, key)


def ca_key_path(ca_file: Path) -> Path:
    """Where the CA's private key is kept: beside the CA file, ``<name>-key<suffix>``
    (``emulator-ca.pem`` → ``emulator-ca-key.pem``)."""
    return ca_file.with_name(f"{ca_file.stem}-key{ca_file.suffix}")


def kept_ca(ca_file: Path) -> tuple[CertificateAuthority, bool]:
    """The CA kept at ``ca_file`` (with its key beside it), or a new one saved there when there
    is none to reuse; ``True`` with a new one."""
    found = CertificateAuthority.load(ca_file)
    if found is not None:
        return found, False
    made = CertificateAuthority.create()
    made.save(ca_file)
    return made, True


def generate(hosts: Sequence[str] = ()) -> TlsMaterial:
    """A new CA and a server certificate for ``localhost``, ``127.0.0.1``, ``::1`` and ``hosts``."""
    return CertificateAuthority.create().issue(hosts)


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(slots=True, frozen=True)
class ApplicationCertificate:
    """A self-signed RSA certificate and its private key, as registered on an Entra ID
    application for certificate sign-in (register ``cert_pem`` with the Dataverse emulator)."""

    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def create(cls, name: str, password: bytes | None = None) -> ApplicationCertificate:
        """A new 2048-bit RSA certificate for ``name``, valid a day; the key encrypted with
        ``password`` when one is given."""
        now = datetime.now(UTC)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return cls(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
            ),
        )

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write ``app.pem`` and ``app-key.pem`` (0600) into ``directory``: their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / "app.pem", directory / "app-key.pem"
        cert.write_bytes(self.cert_pem)
        _write(key, self.key_pem, 0o600)
        return cert, key


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` at once, created with ``mode`` (never wider for a moment)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    temporary.chmod(mode)
    temporary.replace(path)


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
