"""The comparison load of ``bench.inbound_load``: dlt's REST API source pages the emulator's
``contacts`` (the same 25 fields crmsync maps) into a SQLite file through dlt's ``sqlalchemy``
destination. Run as a child process::

    python -m bench._dlt_load URL CA_FILE TARGET_DB EXPECTED_ROWS

How dlt is set up (nothing in it is specific to this emulator; a real Dataverse works alike):

- authentication: dlt's ``OAuth2ClientCredentials`` posts the client-credentials grant to the
  Entra ID token endpoint (``{authority}/oauth2/v2.0/token``, scope ``{url}/.default``) and sends
  the bearer token;
- paging: ``JSONLinkPaginator`` follows ``@odata.nextLink`` (a complete URL that repeats
  ``$select`` and carries the skip token), 5,000 records a page (``Prefer: odata.maxpagesize``);
- TLS: the emulator's CA through ``REQUESTS_CA_BUNDLE`` (dlt's HTTP client is requests);
- the load: ``write_disposition: replace``, ``primary_key: contactid``, into
  ``sqlite:///TARGET_DB`` (dataset ``crm``, which dlt keeps in ``TARGET_DB__crm``); dlt
  extracts to files, normalises them, then loads.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import dlt
import sqlalchemy as sa
from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
from dlt.sources.helpers.rest_client.paginators import JSONLinkPaginator
from dlt.sources.rest_api import rest_api_source

from bench._inbound_setup import CLIENT_ID, FIELDS, SECRET, TENANT


def main() -> None:
    url, ca, target, expected = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    os.environ["REQUESTS_CA_BUNDLE"] = ca
    auth = OAuth2ClientCredentials(
        access_token_url=f"{url}/{TENANT}/oauth2/v2.0/token",
        client_id=CLIENT_ID,
        client_secret=SECRET,
        access_token_request_data={"scope": f"{url}/.default"},
    )
    select = ",".join(["contactid", *(name for name, _, _ in FIELDS)])
    source = rest_api_source(
        {
            "client": {
                "base_url": f"{url}/api/data/v9.2/",
                "auth": auth,
                "headers": {"Prefer": "odata.maxpagesize=5000", "Accept": "application/json"},
                "paginator": JSONLinkPaginator(next_url_path="'@odata.nextLink'"),
            },
            "resources": [
                {
                    "name": "contacts",
                    "primary_key": "contactid",
                    "write_disposition": "replace",
                    "endpoint": {
                        "path": "contacts",
                        "params": {"$select": select},
                        "data_selector": "value",
                    },
                }
            ],
        }
    )
    with tempfile.TemporaryDirectory(prefix="dlt-bench-") as work:
        pipeline = dlt.pipeline(
            pipeline_name="crm_contacts",
            pipelines_dir=work,
            destination=dlt.destinations.sqlalchemy(credentials=f"sqlite:///{target}"),
            dataset_name="crm",
            progress="log" if os.environ.get("DLT_PROGRESS") else None,
        )
        started = time.perf_counter()
        pipeline.run(source)
        seconds = time.perf_counter() - started
        loaded = _count(target)
    print(f"dlt: {loaded:,} rows in {seconds:.1f} s (in-process)", flush=True)
    if loaded != expected:
        raise SystemExit(f"dlt loaded {loaded} rows, expected {expected}")


def _count(target: Path) -> int:
    # dlt keeps each dataset of a SQLite destination in its own attached file, TARGET__DATASET.
    dataset = target.with_name(f"{target.stem}__crm{target.suffix}")
    engine = sa.create_engine(f"sqlite:///{dataset}")
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text("select count(*) from contacts")) or 0)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
