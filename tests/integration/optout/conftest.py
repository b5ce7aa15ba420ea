"""Fixtures of the opt-in/out tests: each CRM's emulator over HTTPS, with one certificate set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from optout_support import Crm, running

from crmsync.emulators.common.tls import TlsFiles, generate


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=["dataverse", "salesforce"])
def crm(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Crm]:
    with running(request.param, tls) as running_crm:
        yield running_crm
