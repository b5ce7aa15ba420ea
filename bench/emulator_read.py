"""Paged-read throughput of the Dataverse emulator, served to a client in another process.

The client does as little as possible (it finds ``@odata.nextLink`` at the end of each page without
parsing the JSON), so the figure is what the emulator can serve::

    .venv/bin/python -m bench.emulator_read --contacts 200000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import httpx

from bench._emulator_process import dataverse_emulator

NEXT_LINK = b'"@odata.nextLink":"'


def token(url: str, verify: str | bool) -> str:
    answer = httpx.post(
        f"{url}/bench/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "bench",
            "client_secret": "bench",
            "scope": f"{url}/.default",
        },
        verify=verify,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


FORMATTED = 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'


def read_all(
    url: str, verify: str | bool, page_size: int, formatted: bool, tracked: bool = False
) -> tuple[int, int, float]:
    """Follow every page of ``contacts`` (as the first read of change tracking with ``tracked``,
    which pages in row-version order); return (records, pages, seconds)."""
    headers = {
        "Authorization": f"Bearer {token(url, verify)}",
        "Accept": "application/json",
        "OData-Version": "4.0",
        "OData-MaxVersion": "4.0",
        "Prefer": f"odata.maxpagesize={page_size}"
        + (f",{FORMATTED}" if formatted else "")
        + (",odata.track-changes" if tracked else ""),
    }
    records = pages = 0
    next_url: str | None = f"{url}/api/data/v9.2/contacts"
    with httpx.Client(headers=headers, verify=verify, timeout=120) as client:
        started = time.perf_counter()
        while next_url:
            body = client.get(next_url).raise_for_status().content
            pages += 1
            # Each record carries exactly one etag: count them instead of parsing.
            records += body.count(b'"@odata.etag"')
            at = body.rfind(NEXT_LINK)
            next_url = None
            if at >= 0:
                end = body.index(b'"', at + len(NEXT_LINK))
                next_url = json.loads(b'"' + body[at + len(NEXT_LINK) : end] + b'"')
        return records, pages, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tls", action="store_true", help="serve over HTTPS (local CA)")
    parser.add_argument("--formatted", action="store_true", help="ask for formatted values")
    parser.add_argument(
        "--tracked", action="store_true", help="read as change tracking's first read does"
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        dataverse_emulator(contacts=args.contacts, tls_dir=Path(tmp) if args.tls else None) as (
            url,
            ca_file,
        ),
    ):
        verify: str | bool = str(ca_file) if ca_file else True
        for round_ in range(1, args.rounds + 1):
            records, pages, seconds = read_all(
                url, verify, args.page_size, args.formatted, args.tracked
            )
            print(
                f"round {round_}: {records} records in {pages} pages, {seconds:.2f} s, "
                f"{records / seconds:,.0f} records/s ({'https' if args.tls else 'http'}"
                f"{', formatted values' if args.formatted else ''}"
                f"{', change tracking' if args.tracked else ''})"
            )


if __name__ == "__main__":
    main()
