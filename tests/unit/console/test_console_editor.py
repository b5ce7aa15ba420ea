"""The mapping editor and the mappings page over the fake CRM: choices, rows, saving, errors."""

from __future__ import annotations

from console_support import Api, log_in

NEW = "/console/mappings/new?connection=dynamics&crm_table=lead&resource=lead&name=leads"


def _form(**rows: str) -> dict[str, str]:
    base = {
        "mode": "new",
        "name": "leads",
        "connection": "dynamics",
        "crm_table": "lead",
        "resource": "lead",
        "pk_campaign": "crm_id",
        "apply_deletes": "on",
        "picklist_values": "technical",
        "filters-combine": "and",
    }
    return base | rows


async def test_new_mapping_offers_only_unmapped_tables_and_resources(console: Api) -> None:
    await log_in(console.client, "admin")
    choices = await console.client.get("/console/mappings/choices")
    assert choices.status_code == 200
    assert '<option value="lead">' in choices.text
    assert '<option value="contact">' not in choices.text  # mapped by 'contacts'
    assert "<option>lead</option>" in choices.text
    assert "<option>profile</option>" not in choices.text


async def test_viewer_gets_no_choices(console: Api) -> None:
    await log_in(console.client, "viewer")
    page = await console.client.get("/console/mappings")
    assert "Adding a mapping needs the admin role" in page.text
    refused = await console.client.get("/console/mappings/choices")
    assert refused.status_code == 403


async def test_editor_shows_keys_and_both_types(console: Api) -> None:
    headers = await log_in(console.client, "admin")
    page = await console.client.get(NEW)
    assert page.status_code == 200
    assert 'id="crm-key" value="leadid" readonly' in page.text
    assert "<option selected>crm_id</option>" in page.text
    drawn = await console.client.post(
        "/console/mappings/editor",
        data=_form(**{"fields-0-crm": "subject", "fields-0-campaign": "last_name"}),
        headers=headers,
    )
    assert '<td data-testid="crm-type-0">String</td>' in drawn.text
    assert '<td data-testid="campaign-type-0">string</td>' in drawn.text


async def test_rows_are_added_and_removed(console: Api) -> None:
    headers = await log_in(console.client, "admin")
    form = _form(**{"fields-0-crm": "subject", "fields-0-campaign": "last_name"})
    added = await console.client.post(
        "/console/mappings/editor", data=form | {"action": "add-fields"}, headers=headers
    )
    assert 'id="fields-1-crm"' in added.text
    removed = await console.client.post(
        "/console/mappings/editor", data=form | {"action": "remove-fields-0"}, headers=headers
    )
    assert 'id="fields-0-crm"' not in removed.text


async def test_replacement_of_a_picklist_offers_its_values(console: Api) -> None:
    headers = await log_in(console.client, "admin")
    form = _form(crm_table="contact", resource="profile", pk_campaign="external_id")
    form |= {"fields-0-crm": "gendercode", "fields-0-campaign": "first_name"}
    form |= {"replacements-0-field": "gendercode", "replacements-1-field": "lastname"}
    drawn = await console.client.post("/console/mappings/editor", data=form, headers=headers)
    assert '<option value="2">Female (2)</option>' in drawn.text
    assert '<input id="replacements-1-from" name="replacements-1-from" value="">' in drawn.text


async def test_save_makes_a_pending_revision(console: Api) -> None:
    headers = await log_in(console.client, "admin")
    form = _form(
        **{
            "fields-0-crm": "subject",
            "fields-0-campaign": "last_name",
            "fields-0-apply_updates": "on",
            "fields-1-crm": "leadid",
            "fields-1-campaign": "first_name",
            "replacements-0-field": "subject",
            "replacements-0-from": "Hi",
            "replacements-0-to": "Hello",
            "filters-0-field": "subject",
            "filters-0-op": "is_not_empty",
            "filters-combine": "or",
            "delete_filtered_out": "on",
        }
    )
    saved = await console.client.post("/console/mappings/save", data=form, headers=headers)
    assert saved.status_code == 204, saved.text
    assert saved.headers["HX-Redirect"].startswith("/console/mappings?saved=")
    mapping = console.supervisor.config("inbound", latest=True).inbound.mappings[-1]
    assert mapping.name == "leads"
    assert [(f.crm, f.apply_updates) for f in mapping.fields] == [
        ("subject", True),
        ("leadid", False),
    ]
    assert mapping.replacements[0].from_ == "Hi"
    assert mapping.filters.combine == "or"
    assert mapping.filters.conditions[0].value is None
    assert mapping.delete_filtered_out
    page = await console.client.get(saved.headers["HX-Redirect"])
    assert "saved as pending revision" in page.text
    assert 'data-testid="pending-warning"' in page.text


async def test_errors_are_shown_next_to_their_field_and_nothing_is_saved(console: Api) -> None:
    headers = await log_in(console.client, "admin")
    form = _form(
        **{
            "fields-0-crm": "subject",
            "fields-0-campaign": "last_name",
            "fields-1-crm": "leadid",
            "fields-1-campaign": "last_name",
            "filters-0-field": "subject",
            "filters-0-op": "eq",
        }
    )
    refused = await console.client.post("/console/mappings/save", data=form, headers=headers)
    assert refused.status_code == 422
    assert 'id="err-filters-conditions-0"' in refused.text
    assert "needs a value" in refused.text
    assert console.supervisor.revisions.pending("inbound") is None
    form["filters-0-value"] = "x"
    twice = await console.client.post("/console/mappings/save", data=form, headers=headers)
    assert twice.status_code == 422
    assert 'aria-invalid="true"' in twice.text
    assert "last_name" in twice.text
    assert console.supervisor.revisions.pending("inbound") is None


async def test_tables_stay_read_only_when_editing(console: Api) -> None:
    headers = await log_in(console.client, "admin")
    page = await console.client.get("/console/mappings/contacts/edit")
    assert 'id="crm_table" name="crm_table" value="contact" readonly' in page.text
    assert 'id="pk_campaign" name="pk_campaign" value="external_id" readonly' in page.text
    form = _form(mode="edit", name="contacts", crm_table="lead", resource="profile")
    form |= {"pk_campaign": "external_id", "fields-0-crm": "lastname"}
    form |= {"fields-0-campaign": "last_name"}
    refused = await console.client.post("/console/mappings/save", data=form, headers=headers)
    assert refused.status_code == 422
    assert "cannot change after saving" in refused.text


async def test_delete_needs_admin_and_makes_a_pending_revision(console: Api) -> None:
    headers = await log_in(console.client, "operator")
    refused = await console.client.post("/console/mappings/contacts/delete", headers=headers)
    assert refused.status_code == 403
    console.client.cookies.clear()
    headers = await log_in(console.client, "admin")
    deleted = await console.client.post("/console/mappings/contacts/delete", headers=headers)
    assert deleted.status_code == 200
    assert "No mapping yet." in deleted.text
    assert console.supervisor.config("inbound", latest=True).inbound.mappings == ()


async def test_crm_names_are_checked_like_the_apis(console: Api) -> None:
    """The editor saves through the API's service: the same name rule, the same metadata."""
    headers = await log_in(console.client, "admin")
    for name, problem in [
        ("subject' OR 1=1", "invalid CRM name"),
        ("crmsync_users", "a table of crmsync&#39;s own store"),
        ("subjet", "unknown field &#39;subjet&#39; of CRM table &#39;lead&#39;"),
    ]:
        form = _form(**{"fields-0-crm": name, "fields-0-campaign": "last_name"})
        refused = await console.client.post("/console/mappings/save", data=form, headers=headers)
        assert refused.status_code == 422
        assert 'id="err-fields-0-crm"' in refused.text
        assert problem in refused.text
    assert console.supervisor.revisions.pending("inbound") is None


async def test_a_hostile_table_name_never_reaches_the_crm(console: Api) -> None:
    await log_in(console.client, "admin")
    for table in ["contact'", "../contact", "contact%00", "crmsync_users"]:
        page = await console.client.get(
            "/console/mappings/new", params={"connection": "dynamics", "crm_table": table}
        )
        assert page.status_code == 200
        assert "there is no CRM table of that name" in page.text
    assert console.crm.describes == []
