"""The Two-way switch of the mapping editor is saved; a two-way mapping shows its conflicts and
Campaign edits waiting in the mappings list and on its editor page, both linking to its Conflicts
page, which lists them newest first, filtered by record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console_support import Api, log_in

from crmsync.twoway import record_conflicts
from crmsync.twoway.rule import Conflict, Reason, Winner

AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
#: The editor's form of the fixture's ``contacts`` mapping, as it is saved.
CONTACTS = {
    "mode": "edit",
    "name": "contacts",
    "connection": "dynamics",
    "crm_table": "contact",
    "resource": "profile",
    "pk_campaign": "external_id",
    "fields-0-crm": "firstname",
    "fields-0-campaign": "first_name",
    "fields-0-apply_updates": "on",
    "apply_deletes": "on",
    "picklist_values": "technical",
    "filters-combine": "and",
}


async def _two_way(console: Api) -> None:
    """Switch ``contacts`` to two-way through the editor, as an admin."""
    headers = await log_in(console.client, "admin")
    saved = await console.client.post(
        "/console/mappings/save", data=CONTACTS | {"two_way": "on"}, headers=headers
    )
    assert saved.status_code == 204, saved.text


def _log(console: Api) -> None:
    conflicts = [
        Conflict("first_name", "Ada", "Augusta", AT, AT, Winner.CRM, Reason.TIE_TO_CRM),
        Conflict("city", None, "<b>Paris</b>", None, AT, Winner.CRM, Reason.TIME_UNKNOWN_TO_CRM),
    ]
    later = Conflict(
        "first_name", 1.5, "x", AT + timedelta(1), AT, Winner.CAMPAIGN, Reason.CAMPAIGN_NEWER
    )
    with console.supervisor.engine.begin() as conn:
        record_conflicts(conn, "contacts", "C-1", conflicts, found_by="crm", at=AT)
        record_conflicts(conn, "contacts", "C-2", [later], found_by="campaign", at=AT)


async def test_the_two_way_switch_is_offered_and_saved(console: Api) -> None:
    await log_in(console.client, "admin")
    page = await console.client.get("/console/mappings/contacts/edit")
    assert '<input type="checkbox" id="two_way" name="two_way"' in page.text
    assert "merged field by field (newer change wins, ties to the CRM)" in page.text
    assert 'aria-describedby="two_way-hint">' in page.text  # not checked yet
    assert 'data-testid="two-way-figures"' not in page.text
    await _two_way(console)
    (mapping,) = console.supervisor.config("inbound", latest=True).inbound.mappings
    assert mapping.two_way is True
    page = await console.client.get("/console/mappings/contacts/edit")
    assert 'aria-describedby="two_way-hint" checked>' in page.text
    saved = await console.client.post(
        "/console/mappings/save", data=CONTACTS, headers=await log_in(console.client, "admin")
    )
    assert saved.status_code == 204, saved.text
    (mapping,) = console.supervisor.config("inbound", latest=True).inbound.mappings
    assert mapping.two_way is False


async def test_a_one_way_mapping_shows_nothing_new_in_the_list(console: Api) -> None:
    await log_in(console.client, "viewer")
    page = await console.client.get("/console/mappings")
    assert "Two-way" not in page.text
    assert 'data-testid="two-way-contacts"' not in page.text
    assert "/console/mappings/contacts/conflicts" not in page.text


async def test_a_two_way_mapping_shows_its_figures_and_links_its_conflicts(console: Api) -> None:
    await _two_way(console)
    _log(console)
    console.client.cookies.clear()
    await log_in(console.client, "viewer")
    listed = await console.client.get("/console/mappings")
    assert 'href="/console/mappings/contacts/conflicts">3 conflicts' in listed.text
    assert "0 Campaign edits waiting" in listed.text
    edited = await console.client.get("/console/mappings/contacts/edit")
    assert "Two-way: 3 conflicts logged," in edited.text
    assert 'href="/console/mappings/contacts/conflicts">Conflicts' in edited.text


async def test_the_conflicts_page_lists_them_newest_first_by_record(console: Api) -> None:
    await _two_way(console)
    _log(console)
    page = await console.client.get("/console/mappings/contacts/conflicts")
    assert page.status_code == 200
    assert "3 conflicts (newest first)" in page.text
    rows = page.text.split("<tr data-conflict=")[1:]
    assert ["C-2" in rows[0], "C-1" in rows[1], "C-1" in rows[2]] == [True] * 3
    assert "<td>1.5</td>" in rows[0]
    assert "<td>Campaign</td><td>campaign newer</td>" in rows[0]
    assert "<td>a Campaign edit</td>" in rows[0]
    assert "&lt;b&gt;Paris&lt;/b&gt;" in rows[1]  # values are text, never markup
    assert "(empty)" in rows[1]
    assert "time unknown to crm" in rows[1]
    assert "<td>2025-01-02 03:04:05</td>" in rows[2]
    one = await console.client.get("/console/mappings/contacts/conflicts?record=C-2")
    assert "1 conflict (newest first)" in one.text
    none = await console.client.get("/console/mappings/contacts/conflicts?record=C-9")
    assert "No conflict logged for record C-9." in none.text


async def test_the_conflicts_of_an_unknown_mapping_are_not_found(console: Api) -> None:
    await log_in(console.client, "viewer")
    page = await console.client.get("/console/mappings/orders/conflicts")
    assert page.status_code == 404
    assert "there is no inbound mapping &#39;orders&#39;" in page.text
    one_way = await console.client.get("/console/mappings/contacts/conflicts")
    assert one_way.status_code == 200
    assert "This mapping is one-way" in one_way.text
    assert "No conflict logged." in one_way.text
