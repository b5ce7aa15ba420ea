"""crmsync's connector to a CRM emulator started by a benchmark (HTTPS, its local CA)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
from crmsync.connectors.salesforce import SalesforceConnectionConfig, SalesforceConnector

#: The emulators accept any secret; the connectors read it from this environment.
_SECRET_ENV = "BENCH_SECRET"  # noqa: S105 - the name of a variable, not a secret
_BENCH_ENV = {_SECRET_ENV: "bench"}


def connector(kind: str, url: str, ca_file: Path) -> Any:
    if kind == "dataverse":
        return DataverseConnector(
            DataverseConnectionConfig(
                url=url,
                tenant_id="bench",
                authority=f"{url}/bench",
                client_id="bench",
                client_secret_env=_SECRET_ENV,
                ca_bundle=ca_file,
            ),
            environ=_BENCH_ENV,
        )
    return SalesforceConnector(
        SalesforceConnectionConfig(
            url=url,
            client_id="bench",
            client_secret_env=_SECRET_ENV,
            ca_bundle=ca_file,
        ),
        environ=_BENCH_ENV,
    )
