"""One malformed record or answer never stops a mapping: against both emulators over HTTPS and
both Campaign stores.

A row without its key, with a lone UTF-16 surrogate or with a NUL character becomes a reject with
its code while the good change next to it in the same page is applied; a malformed ``200`` answer
(HTML, empty, cut-off JSON, a page without its rows) is asked for again with back-off, and fails
the workflow only when it persists, saying what came back. The bad rows are made by the
emulators' ``rewrite`` fault (no emulator store can hold them), the bad answers by their
``malformed`` fault; the request log counts the retries.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import re
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from inbound_salesforce_support import config_text as sf_config_text
from inbound_salesforce_support import contacts_mapping, running_salesforce
from inbound_support import CONTACTS_MAPPING, ENV, run_once, running_crm, store_rows, sync_state
from inbound_support import config_text as dv_config_text

from crmsync.config import load_config_text
from crmsync.config.models import Config
from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.faults import Fault
from crmsync.emulators.common.tls import TlsFiles, generate
from crmsync.errors import MalformedAnswerError
from crmsync.state.models import WorkflowStatus

#: The client's retries of a malformed answer, and its first back-off (halved at most by jitter),
#: as the configuration file sets them.
RETRIES = 2
BACKOFF = 0.2
#: Rounds the engine's read loop tries before a transient failure fails the workflow.
READ_ROUNDS = 5


@dataclass
class Side:
    """One CRM under test: the running emulator and how its contacts are spelt on the wire."""

    crm: Any
    table: str
    first_name: str
    key: str
    #: A regular expression matching the path of the contact pages.
    pages: str
    config_text: Callable[..., str]
    mapping: str

    async def update(self, record_id: str, first_name: str) -> None:
        await self.crm.write(
            WriteOp("update", self.table, {self.first_name: first_name}, id=record_id)
        )

    async def ids(self) -> list[str]:
        return sorted(await self.crm.rows(self.table, (self.first_name,)))

    def config(self, folder: Path, store: dict[str, str]) -> Config:
        text = self.config_text(self.crm.url, self.crm.tls.ca, folder, self.mapping, **store)
        # Retries as the file sets them (the defaults would make a persisting failure take a
        # minute); the request log then counts them.
        secret = "    client_secret_env: CRMSYNC_TEST_SECRET"
        retries = f"\n    max_retries: {RETRIES}\n    backoff_initial_seconds: {BACKOFF}"
        return load_config_text(text.replace(secret, secret + retries), environ=ENV)

    def fault(self, fault: Fault) -> None:
        self.crm.emulator.faults.add(fault)

    def requests(self) -> list[dict[str, Any]]:
        """The emulator's request log, read over HTTPS as a test client would."""
        with httpx.Client(verify=ssl.create_default_context(cafile=self.crm.tls.ca)) as client:
            answer = client.get(f"{self.crm.url}/_emulator/requests")
        answer.raise_for_status()
        return list(answer.json())

    def clear_requests(self) -> None:
        with httpx.Client(verify=ssl.create_default_context(cafile=self.crm.tls.ca)) as client:
            client.delete(f"{self.crm.url}/_emulator/requests").raise_for_status()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=["dataverse", "salesforce"])
def side(request: pytest.FixtureRequest, tls: TlsFiles) -> Iterator[Side]:
    with contextlib.ExitStack() as stack:
        if request.param == "dataverse":
            crm: Any = stack.enter_context(running_crm(tls, contacts=4, accounts=1))
            yield Side(
                crm,
                "contact",
                "firstname",
                "contactid",
                r"^/api/data/v9\.2/contacts$",
                dv_config_text,
                CONTACTS_MAPPING,
            )
        else:
            crm = stack.enter_context(running_salesforce(tls, contacts=4))
            yield Side(
                crm,
                "Contact",
                "FirstName",
                "Id",
                r"/query(All)?/",
                sf_config_text,
                contacts_mapping(),
            )


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    url = request.getfixturevalue("postgres_url")
    return {"store_url": url, "pg_schema": request.getfixturevalue("pg_schema")}


# ------------------------------------------------------------------------------- bad rows

BAD_ROWS = {
    # kind: (find, replace, code, what the message says); {key}/{id} filled in per CRM
    "missing_id": ('"{key}"\\s*:\\s*"{id}"', '"{key}_gone":"{id}"', "MISSING_ID", "has no id"),
    "lone_surrogate": ("Bad-B", "Bad\\ud800B", "INVALID_VALUE", "lone UTF-16 surrogate"),
    "nul": ("Bad-B", "Bad\\u0000B", "INVALID_VALUE", "NUL character"),
    "nul_in_id": ('"{key}"\\s*:\\s*"{id}"', '"{key}":"{id}\\u0000"', "INVALID_VALUE", "NUL"),
}


@pytest.mark.parametrize("kind", list(BAD_ROWS))
async def test_a_bad_row_is_rejected_and_the_good_one_next_to_it_applied(
    side: Side, store: dict[str, str], tmp_path: Path, kind: str
) -> None:
    config = side.config(tmp_path, store)
    await run_once(config)
    good, bad = (await side.ids())[:2]
    before = store_rows(config, "profile", "external_id")[bad]["first_name"]
    await side.update(good, "Good-A")
    await side.update(bad, "Bad-B")
    find, replace, code, said = BAD_ROWS[kind]
    # Every page of the run answers the bad row, as a CRM holding it would.
    side.fault(
        Fault(
            "rewrite",
            path=side.pages,
            method="GET",
            times=1000,
            find=find.format(key=side.key, id=bad),
            replace=replace.format(key=side.key, id=bad),
        )
    )

    summary = await run_once(config)

    rows = store_rows(config, "profile", "external_id")
    assert rows[good]["first_name"] == "Good-A"
    assert rows[bad]["first_name"] == before  # the bad version is not written
    (reject,) = _state(config, "rejects.newest")
    assert (reject.code, reject.mapping) == (code, "contacts")
    assert said in reject.message
    assert reject.record_id == {"missing_id": "", "nul_in_id": f"{bad}\\u0000"}.get(kind, bad)
    assert summary.rejects == 1
    assert _state(config, "statuses.all")["inbound"].status is WorkflowStatus.STOPPED

    # The CRM fixes the record: the next run writes it.
    side.crm.emulator.faults.clear()
    await side.update(bad, "Fixed-B")
    await run_once(config)
    assert store_rows(config, "profile", "external_id")[bad]["first_name"] == "Fixed-B"


async def test_a_nul_character_is_rejected_by_writer_processes_on_postgresql(
    tls: TlsFiles, tmp_path: Path, postgres_url: str, pg_schema: str
) -> None:
    """The writer processes PostgreSQL runs with reject the record too, never crash on it."""
    with running_crm(tls, contacts=3, accounts=1) as crm:
        config = load_config_text(
            dv_config_text(
                crm.url,
                crm.tls.ca,
                tmp_path,
                CONTACTS_MAPPING,
                store_url=postgres_url,
                pg_schema=pg_schema,
            ),
            environ=ENV,
        )
        await run_once(config)
        good, bad = sorted(await crm.rows("contact", ("firstname",)))[:2]
        await crm.write(
            WriteOp("update", "contact", {"firstname": "Good-A"}, id=good),
            WriteOp("update", "contact", {"firstname": "Bad\x00B"}, id=bad),
        )
        await run_once(config, writer_processes=1)
    rows = store_rows(config, "profile", "external_id")
    assert rows[good]["first_name"] == "Good-A"
    (reject,) = _state(config, "rejects.newest")
    assert reject.code == "INVALID_VALUE"
    assert "field 'firstname'" in reject.message


# ------------------------------------------------------------------------ malformed answers


@pytest.mark.parametrize("body", ["html", "empty", "truncated_json", "no_value"])
async def test_a_malformed_answer_once_is_asked_for_again_after_a_pause(
    side: Side, tmp_path: Path, body: str
) -> None:
    config = side.config(tmp_path, {})
    side.fault(Fault("malformed", path=side.pages, method="GET", body=body))  # type: ignore[arg-type]
    side.clear_requests()

    await run_once(config)

    assert set(store_rows(config, "profile", "external_id")) == set(await side.ids())
    pages = [r for r in side.requests() if _matches(side.pages, r["path"])]
    assert [r["status"] for r in pages[:2]] == [200, 200]
    assert pages[1]["at"] - pages[0]["at"] >= BACKOFF / 2  # backed off, not hammered
    assert _state(config, "statuses.all")["inbound"].status is WorkflowStatus.STOPPED


async def test_a_malformed_answer_that_persists_fails_saying_what_came_back(
    side: Side, tmp_path: Path
) -> None:
    config = side.config(tmp_path, {})
    side.fault(Fault("malformed", path=side.pages, method="GET", body="html", times=1000))
    side.clear_requests()

    with pytest.raises(MalformedAnswerError) as caught:
        await run_once(config, poll_interval_seconds=0.05)

    status = _state(config, "statuses.all")["inbound"]
    assert status.status is WorkflowStatus.FAILED
    for text in (caught.value.message, status.reason or ""):
        assert "answered 200 with a body that is not JSON (text/html" in text
        assert "502 Bad Gateway" in text
        assert f"(the same after {RETRIES} retries)" in text
    pages = [r for r in side.requests() if _matches(side.pages, r["path"])]
    assert len(pages) == READ_ROUNDS * (1 + RETRIES)
    first_round = pages[: 1 + RETRIES]
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(first_round)]
    assert all(gap >= BACKOFF / 2 for gap in gaps), gaps
    assert gaps[1] >= BACKOFF  # the back-off grows


def _state(config: Config, what: str) -> Any:
    """``StateStore.<what>()`` (e.g. ``rejects.newest``) of the run's store, its connections closed
    after."""
    state = sync_state(config)
    try:
        return operator.attrgetter(what)(state)()
    finally:
        state.engine.dispose()


def _matches(pattern: str, path: str) -> bool:
    return re.search(pattern, path) is not None
