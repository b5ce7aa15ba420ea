"""The console in Chromium over a real server: the standard workflows against the Dataverse
emulator. An admin creates a mapping in the editor, starts inbound and watches it load; a live
CRM change drains; a replay disables its control; a viewer can look but not start or stop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from console_browser_support import (
    PASSWORD,
    SCREENSHOTS,
    Console,
    chromium_or_skip,
    serving,
)
from inbound_support import Crm, running_crm
from playwright.sync_api import Browser, Page, expect, sync_playwright

from crmsync.connectors.base import WriteOp
from crmsync.emulators.common.tls import TlsFiles, generate

T = TypeVar("T")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_or_skip()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable))
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate([]).write(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def crm(tls: TlsFiles) -> Iterator[Crm]:
    with running_crm(tls, contacts=40) as running:
        yield running


@pytest.fixture(scope="module")
def console(crm: Crm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with serving(crm, tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def outside(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` on an event loop of its own (Playwright's runs in this thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def log_in(page: Page, console: Console, name: str) -> None:
    page.goto(f"{console.url}/console/")
    expect(page).to_have_url(re.compile(r"/console/login$"))
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/console/workflows$"))


def choose(page: Page, select: str, value: str) -> None:
    """Choose in a select that redraws the editor, and wait for the redrawn editor."""
    with page.expect_response(re.compile(r"/console/mappings/editor$")):
        page.locator(f"#{select}").select_option(value)
    expect(page.locator(f"#{select}")).to_have_value(value)


def click_redraw(page: Page, button: str) -> None:
    with page.expect_response(re.compile(r"/console/mappings/editor$")):
        page.locator(f"#{button}").click()


def test_admin_creates_a_mapping_runs_inbound_and_replays(
    page: Page, console: Console, crm: Crm
) -> None:
    log_in(page, console, "admin")
    inbound = page.locator("#workflow-inbound")
    expect(inbound.get_by_test_id("status")).to_have_text("STOPPED")
    shot(page, "01-workflows")

    # A new mapping: only unmapped tables are offered; the editor opens on the pair chosen.
    page.get_by_role("link", name="Inbound mappings").click()
    expect(page.get_by_text("No mapping yet.")).to_be_visible()
    page.get_by_label("CRM table").select_option("contact")
    page.get_by_label("Campaign resource").select_option("profile")
    page.get_by_label("Mapping name").fill("contacts")
    shot(page, "02-mappings-add")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#crm-key")).to_have_value("contactid")
    expect(page.locator("#pk_campaign")).to_have_value("external_id")

    choose(page, "fields-0-crm", "firstname")
    expect(page.get_by_test_id("crm-type-0")).to_have_text("String")
    choose(page, "fields-0-campaign", "first_name")
    expect(page.get_by_test_id("campaign-type-0")).to_have_text("string")
    click_redraw(page, "add-fields")
    choose(page, "fields-1-crm", "lastname")
    choose(page, "fields-1-campaign", "last_name")

    # Toggle all: every apply-updates switch follows the header's.
    switches = page.locator("input[data-apply]")
    expect(switches).to_have_count(2)
    page.get_by_label("Apply updates (all)").uncheck()
    for i in range(2):
        expect(switches.nth(i)).not_to_be_checked()
    page.get_by_label("Apply updates (all)").check()
    for i in range(2):
        expect(switches.nth(i)).to_be_checked()

    click_redraw(page, "add-replacements")
    choose(page, "replacements-0-field", "lastname")
    page.locator("#replacements-0-from").fill("Oslo")
    page.locator("#replacements-0-to").fill("OSLO")
    click_redraw(page, "add-filters")
    choose(page, "filters-0-field", "emailaddress1")
    page.locator("#filters-0-op").select_option("is_not_empty")
    shot(page, "03-mapping-editor")
    page.get_by_role("button", name="Save as pending revision").click()

    expect(page).to_have_url(re.compile(r"/console/mappings\?saved=\d+$"))
    expect(page.get_by_test_id("pending-warning")).to_contain_text("pending edits")
    expect(page.locator("#status")).to_contain_text("saved as pending revision")
    shot(page, "04-mappings-saved")
    saved = console.supervisor.config("inbound", latest=True).inbound.mappings[0]
    assert [(f.crm, f.campaign, f.apply_updates) for f in saved.fields] == [
        ("firstname", "first_name", True),
        ("lastname", "last_name", True),
    ]
    assert saved.replacements[0].from_ == "Oslo"
    assert saved.filters.conditions[0].op.value == "is_not_empty"

    # The workflows page warns about the pending edits; starting activates them.
    page.get_by_role("link", name="Workflows").click()
    expect(inbound.get_by_test_id("pending-warning")).to_be_visible()
    inbound.get_by_role("button", name="Start").click()
    expect(inbound.get_by_test_id("status")).to_have_text("RUNNING", timeout=30_000)
    expect(inbound.get_by_test_id("pending-warning")).to_have_count(0)
    # Live status: the initial load shows up in the polled counters, the backlog drains.
    positive = re.compile(r"^[1-9][0-9,]*$")
    expect(inbound.get_by_test_id("counter-inserted")).to_have_text(positive, timeout=30_000)
    expect(inbound.get_by_test_id("backlog")).to_have_text("0", timeout=30_000)
    shot(page, "05-workflows-running")
    # Polling redraws the card; keyboard focus stays on the toggle.
    inbound.get_by_role("button", name="Stop").focus()
    with page.expect_response(re.compile(r"/console/workflows/inbound$")):
        pass
    page.wait_for_timeout(100)  # the swap follows the response
    assert page.evaluate("document.activeElement.id") == "toggle-inbound"

    # Stop and start again.
    inbound.get_by_role("button", name="Stop").click()
    expect(inbound.get_by_test_id("status")).to_have_text("STOPPED", timeout=30_000)
    expect(page.locator("#status")).to_contain_text("inbound stopped")
    inbound.get_by_role("button", name="Start").click()
    expect(inbound.get_by_test_id("status")).to_have_text("RUNNING", timeout=30_000)

    # A change in the CRM arrives without reloading the page.
    contact = outside(crm.rows("contact", ["emailaddress1"]))
    changed = next(cid for cid, values in contact.items() if values.get("emailaddress1"))
    outside(crm.write(WriteOp("update", "contact", {"firstname": "Zelda"}, id=changed)))
    expect(inbound.get_by_test_id("counter-updated")).to_have_text(positive, timeout=30_000)
    expect(inbound.get_by_test_id("backlog")).to_have_text("0", timeout=30_000)

    # A replay: requested once, then its control is disabled until inbound takes it up.
    page.get_by_role("link", name="Inbound mappings").click()
    replay = page.get_by_test_id("replay-contacts")
    expect(replay).to_be_enabled()
    replay.click()
    expect(page.locator("#status")).to_contain_text("replay of 'contacts' requested")
    expect(page.get_by_test_id("replay-contacts")).to_be_disabled()
    page.reload()
    expect(page.get_by_test_id("replay-contacts")).to_be_disabled()
    shot(page, "06-mappings-replay-pending")

    for name in ("rejects", "revisions", "events", "optinout", "jobs", "users"):
        page.goto(f"{console.url}/console/{name}")
        expect(page.locator("h1")).to_be_visible()
        shot(page, f"07-{name}")
    expect(page.locator("body")).not_to_contain_text("Internal Server Error")

    # The mapping added above, as a change of the inbound configuration.
    page.goto(f"{console.url}/console/revisions?workflow=inbound")
    page.get_by_role("link", name="mapping 'contacts' added").click()
    expect(page.get_by_test_id("diff")).to_contain_text("+  - name: contacts")
    shot(page, "08-revision-changes")


def test_viewer_cannot_start_or_stop(page: Page, console: Console) -> None:
    log_in(page, console, "viewer")
    for name in ("inbound", "outbound", "optinout"):
        expect(page.locator(f"#toggle-{name}")).to_be_disabled()
    shot(page, "09-workflows-viewer")
    before = console.api("GET", "/api/workflows/inbound").json()["status"]
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    refused = page.request.post(
        f"{console.url}/console/workflows/inbound/stop",
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert refused.status == 403
    assert "needs the operator role" in refused.text()
    assert console.api("GET", "/api/workflows/inbound").json()["status"] == before
    page.get_by_role("link", name="Inbound mappings").click()
    expect(page.get_by_text("Adding a mapping needs the admin role.")).to_be_visible()


def test_admin_reads_the_audit_trail_and_a_viewer_is_refused(page: Page, console: Console) -> None:
    assert console.api("POST", "/api/workflows/optinout/stop").status_code == 200
    log_in(page, console, "admin")
    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Audit")).to_be_visible()
    page.get_by_label("Action").fill("workflow.stop")
    page.get_by_role("button", name="Filter").click()
    row = page.locator("#audit tbody tr").filter(has_text="optinout").first
    expect(row).to_contain_text("token:admin")
    expect(row).to_contain_text("workflow.stop")
    expect(page.locator("#audit tbody")).not_to_contain_text("workflow.start")
    shot(page, "10-audit")

    page.context.clear_cookies()
    log_in(page, console, "viewer")
    expect(page.get_by_role("link", name="Audit")).to_have_count(0)
    answer = page.goto(f"{console.url}/console/audit")
    assert answer is not None
    assert answer.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.locator("main")).to_contain_text("this needs the admin role")
