"""The console's plan page of a mapping, and its link from the editor (the plan itself is tested
against the emulators in tests/integration/twoway)."""

from __future__ import annotations

from console_support import Api, log_in


async def test_a_one_way_mapping_has_no_plan_link_and_its_plan_is_refused(console: Api) -> None:
    await log_in(console.client, "viewer")
    editor = await console.client.get("/console/mappings/contacts/edit")
    assert editor.status_code == 200
    assert "/console/mappings/contacts/plan" not in editor.text
    page = await console.client.get("/console/mappings/contacts/plan")
    assert page.status_code == 409
    assert "mapping &#39;contacts&#39; is not two-way" in page.text
    missing = await console.client.get("/console/mappings/nope/plan")
    assert missing.status_code == 404
    assert "there is no inbound mapping" in missing.text


async def test_the_plan_page_needs_a_login(console: Api) -> None:
    answer = await console.client.get("/console/mappings/contacts/plan")
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/login")
