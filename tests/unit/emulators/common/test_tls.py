"""Generated TLS material: a CA and a server certificate that chain and name the right hosts."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from crmsync.emulators.common.tls import CertificateAuthority, ca_key_path, generate, kept_ca


def test_server_certificate_chains_to_the_ca_for_every_host(tmp_path: Path) -> None:
    material = generate(["emulator.local", "10.1.2.3"])
    ca = x509.load_pem_x509_certificate(material.ca_pem)
    cert = x509.load_pem_x509_certificate(material.cert_pem)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "emulator.local"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
        ipaddress.ip_address("10.1.2.3"),
    ]
    verifier = PolicyBuilder().store(Store([ca])).time(datetime.now(UTC))
    for name in ("localhost", "emulator.local"):
        verifier.build_server_verifier(x509.DNSName(name)).verify(cert, [])
    for address in ("127.0.0.1", "::1", "10.1.2.3"):
        ip = x509.IPAddress(ipaddress.ip_address(address))
        verifier.build_server_verifier(ip).verify(cert, [])


def test_write_puts_a_private_key_and_a_chain(tmp_path: Path) -> None:
    files = generate([]).write(tmp_path / "tls")
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert files.cert.read_bytes().count(b"BEGIN CERTIFICATE") == 2
    assert files.ca.read_bytes().count(b"BEGIN CERTIFICATE") == 1
    assert b"PRIVATE KEY" in files.key.read_bytes()


def test_each_call_makes_a_new_ca() -> None:
    assert generate([]).ca_pem != generate([]).ca_pem


def test_rejects_something_that_is_not_a_host() -> None:
    with pytest.raises(ValueError, match="not a host name"):
        generate(["http://x/y"])


def test_a_kept_ca_is_reused_with_its_key_and_signs_new_server_certificates(
    tmp_path: Path,
) -> None:
    ca_file = tmp_path / "emulator-ca.pem"
    first, made = kept_ca(ca_file)
    assert made
    assert ca_key_path(ca_file) == tmp_path / "emulator-ca-key.pem"
    assert stat.S_IMODE(ca_key_path(ca_file).stat().st_mode) == 0o600
    again, made_again = kept_ca(ca_file)
    assert not made_again
    assert again.pem == first.pem == ca_file.read_bytes()
    material = again.issue(["emulator.local"])
    cert = x509.load_pem_x509_certificate(material.cert_pem)
    assert cert.not_valid_after_utc <= first.cert.not_valid_after_utc
    verifier = PolicyBuilder().store(Store([first.cert])).time(datetime.now(UTC))
    verifier.build_server_verifier(x509.DNSName("emulator.local")).verify(cert, [])


@pytest.mark.parametrize("damage", ["no key", "another key", "not a key"])
def test_a_ca_that_cannot_sign_is_replaced(tmp_path: Path, damage: str) -> None:
    ca_file = tmp_path / "ca.pem"
    old, _ = kept_ca(ca_file)
    key_file = ca_key_path(ca_file)
    if damage == "no key":
        key_file.unlink()
    elif damage == "another key":
        CertificateAuthority.create().save(tmp_path / "other.pem")
        key_file.write_bytes(ca_key_path(tmp_path / "other.pem").read_bytes())
    else:
        key_file.write_bytes(b"garbage")
    new, made = kept_ca(ca_file)
    assert made
    assert new.pem != old.pem
    kept = CertificateAuthority.load(ca_file)
    assert kept is not None
    assert kept.pem == new.pem
