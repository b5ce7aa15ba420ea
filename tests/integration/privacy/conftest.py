"""The TLS files every privacy test's emulators serve with (one set per test module)."""

from __future__ import annotations

import pytest

from crmsync.emulators.common.tls import TlsFiles, generate


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))
