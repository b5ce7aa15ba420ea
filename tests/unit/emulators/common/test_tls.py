"""Generated TLS material: a CA and a server certificate that chain and name the right hosts."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from crmsync.emulators.common.tls import generate


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
