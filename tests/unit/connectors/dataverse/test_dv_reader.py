from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from dv_fakes import ROOT, FakeOrg, dv_error, json_response

from crmsync.connectors.base import INVALID_TEXT, ChangePage, Deletion, Record
from crmsync.connectors.dataverse import DataverseConnector, reconcile_deletions
from crmsync.errors import ConfigurationError, MalformedAnswerError, ProtocolError

FV = "@OData.Community.Display.V1.FormattedValue"


def _row(n: int, version: int | None = None) -> dict[str, Any]:
    return {
        "@odata.etag": f'W/"{version or 100 + n}"',
        "contactid": f"00000000-0000-0000-0000-{n:012d}",
        "firstname": f"First{n}",
        "gendercode": 1,
        f"gendercode{FV}": "Male",
        "donotemail": False,
        f"donotemail{FV}": "Allow",
        "_parentcustomerid_value": "11111111-1111-1111-1111-111111111111",
        f"_parentcustomerid_value{FV}": "Contoso",
        "versionnumber": version or 100 + n,
    }


class PagedContacts:
    """``contacts`` with maxpagesize paging, tracking rounds and scripted delta answers."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.deltas: dict[str, list[httpx.Response]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        prefer = request.headers.get("Prefer", "")
        token = params.get("$deltatoken")
        if token is not None:
            return self.deltas[token].pop(0)
        size = int(re.search(r"odata\.maxpagesize=(\d+)", prefer).group(1))  # type: ignore[union-attr]
        start = int(params.get("$skiptoken", "0"))
        page: dict[str, Any] = {
            "@odata.context": f"{ROOT}$metadata#contacts",
            "value": self.rows[start : start + size],
        }
        select = params.get("$select", "")
        if start + size < len(self.rows):
            page["@odata.nextLink"] = f"{ROOT}contacts?$select={select}&$skiptoken={start + size}"
        elif "odata.track-changes" in prefer:
            page["@odata.deltaLink"] = f"{ROOT}contacts?$select={select}&$deltatoken=T1"
        return json_response(200, page)


async def _pages(iterator: Any) -> list[Any]:
    return [page async for page in iterator]


async def test_full_read_pages_selects_and_formats(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    org.data = PagedContacts([_row(n) for n in range(5)])
    pages = await _pages(
        connector.read_all("contact", ["firstname", "gendercode", "parentcustomerid", "donotemail"])
    )
    assert [len(p) for p in pages] == [2, 2, 1]
    first: Record = pages[0][0]
    assert first.id == "00000000-0000-0000-0000-000000000000"
    assert first.version == 100
    assert first.values == {
        "firstname": "First0",
        "gendercode": 1,
        "_parentcustomerid_value": "11111111-1111-1111-1111-111111111111",
        "donotemail": False,
        "contactid": "00000000-0000-0000-0000-000000000000",
        "versionnumber": 100,
    }
    assert first.formatted == {
        "gendercode": "Male",
        "_parentcustomerid_value": "Contoso",
        "donotemail": "Allow",
    }
    data = org.data_requests()
    assert len(data) == 3
    assert data[0].url.params["$select"] == (
        "firstname,gendercode,_parentcustomerid_value,donotemail,contactid,versionnumber"
    )
    for request in data:
        prefer = request.headers["Prefer"]
        assert "odata.maxpagesize=2" in prefer
        assert 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"' in prefer
        assert "track-changes" not in prefer
    assert data[1].url.params["$skiptoken"] == "2"


async def test_full_read_without_formatted_values(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    org.data = PagedContacts([_row(n) for n in range(3)])
    pages = await _pages(
        connector.read_all("contact", ["firstname", "gendercode"], formatted=False)
    )
    records = [record for page in pages for record in page]
    assert [r.id for r in records] == [_row(n)["contactid"] for n in range(3)]
    # Annotations a server sends anyway stay out of the values; no labels are kept.
    assert all(r.formatted == {} for r in records)
    assert records[0].values == {
        "firstname": "First0",
        "gendercode": 1,
        "contactid": "00000000-0000-0000-0000-000000000000",
        "versionnumber": 100,
    }
    for request in org.data_requests():
        assert request.headers["Prefer"] == "odata.maxpagesize=2"


async def test_records_hold_exactly_the_selected_fields(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    selected = ["firstname", "gendercode", "contactid", "versionnumber"]
    rows = [
        {k: v for k, v in _row(n).items() if k in selected or k.startswith("@") or FV in k}
        for n in range(2)
    ]
    rows[1]["unexpected"] = "x"
    del rows[1]["firstname"]
    org.data = PagedContacts(rows)
    (page,) = await _pages(connector.read_all("contact", ["firstname", "gendercode"]))
    assert [dict(r.values) for r in page] == [
        {
            "contactid": rows[0]["contactid"],
            "firstname": "First0",
            "gendercode": 1,
            "versionnumber": 100,
        },
        {
            "contactid": rows[1]["contactid"],
            "firstname": None,
            "gendercode": 1,
            "versionnumber": 101,
        },
    ]
    assert [r.formatted for r in page] == [{"gendercode": "Male"}, {"gendercode": "Male"}]


async def test_full_read_passes_the_filter(connector: DataverseConnector, org: FakeOrg) -> None:
    org.data = PagedContacts([_row(1)])
    await _pages(connector.read_all("contact", ["firstname"], where="firstname eq 'O''Neil'"))
    assert org.data_requests()[0].url.params["$filter"] == "firstname eq 'O''Neil'"


async def test_all_fields_by_default(connector: DataverseConnector, org: FakeOrg) -> None:
    org.data = PagedContacts([_row(1)])
    await _pages(connector.read_all("contact"))
    selected = org.data_requests()[0].url.params["$select"].split(",")
    assert "_crmsync_accountid_value" in selected
    assert "parentcustomeridname" not in selected
    assert "birthdate" in selected


async def test_unknown_field_is_refused_before_reading(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    with pytest.raises(ConfigurationError, match="no field 'nope'"):
        await _pages(connector.read_all("contact", ["firstname", "nope"]))
    assert org.data_requests() == []


async def test_version_from_etag_when_no_version_column(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    row = _row(1)
    del row["versionnumber"]
    org.data = PagedContacts([row])
    (page,) = await _pages(connector.read_all("contact", ["firstname"]))
    assert page[0].version == 101


async def test_tracking_snapshot_then_delta_rounds(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    contacts = PagedContacts([_row(n) for n in range(3)])
    org.data = contacts
    snapshot: list[ChangePage] = await _pages(
        connector.track_changes("contact", ["firstname"], None)
    )
    assert [len(p.records) for p in snapshot] == [2, 1]
    assert all(p.snapshot for p in snapshot)
    assert snapshot[0].cursor is None
    cursor = snapshot[-1].cursor
    assert cursor == "contacts?$select=firstname,contactid,versionnumber&$deltatoken=T1"
    assert "odata.track-changes" in org.data_requests()[0].headers["Prefer"]
    assert "odata.track-changes" in org.data_requests()[1].headers["Prefer"]

    changed = _row(7, version=500)
    contacts.deltas["T1"] = [
        json_response(
            200,
            {
                "@odata.context": f"{ROOT}$metadata#contacts/$delta",
                "value": [changed],
                "@odata.nextLink": f"{ROOT}contacts?$deltatoken=T1b",
            },
        )
    ]
    contacts.deltas["T1b"] = [
        json_response(
            200,
            {
                "@odata.context": f"{ROOT}$metadata#contacts/$delta",
                "value": [
                    {
                        "@odata.context": f"{ROOT}$metadata#contacts/$deletedEntity",
                        "id": "00000000-0000-0000-0000-000000000001",
                        "reason": "deleted",
                    }
                ],
                "@odata.deltaLink": f"{ROOT}contacts?$select=firstname&$deltatoken=T2",
            },
        )
    ]
    delta: list[ChangePage] = await _pages(
        connector.track_changes("contact", ["firstname"], cursor)
    )
    assert [p.snapshot for p in delta] == [False, False]
    assert delta[0].records[0].id == changed["contactid"]
    assert delta[0].records[0].version == 500
    assert delta[0].cursor is None
    assert delta[1].deletions == [Deletion(id="00000000-0000-0000-0000-000000000001")]
    assert delta[1].cursor == "contacts?$select=firstname&$deltatoken=T2"
    delta_request = org.data_requests()[2]
    assert str(delta_request.url) == f"{ROOT}{cursor}"
    assert "odata.track-changes" not in delta_request.headers["Prefer"]


async def test_tracking_without_formatted_values(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    org.data = PagedContacts([_row(n) for n in range(3)])
    pages: list[ChangePage] = await _pages(
        connector.track_changes("contact", ["gendercode"], None, formatted=False)
    )
    assert [len(p.records) for p in pages] == [2, 1]
    assert all(
        r.formatted == {} and "gendercode" + FV not in r.values for p in pages for r in p.records
    )
    for request in org.data_requests():
        assert request.headers["Prefer"] == "odata.track-changes,odata.maxpagesize=2"


async def test_expired_cursor_starts_a_new_snapshot(
    connector: DataverseConnector, org: FakeOrg, caplog: pytest.LogCaptureFixture
) -> None:
    contacts = PagedContacts([_row(n) for n in range(3)])
    contacts.deltas["OLD"] = [
        dv_error(400, "0x80044352", "Version stamp associated with the client has expired.")
    ]
    org.data = contacts
    pages: list[ChangePage] = await _pages(
        connector.track_changes("contact", None, "contacts?$deltatoken=OLD")
    )
    assert [p.snapshot for p in pages] == [True, True]
    assert sum(len(p.records) for p in pages) == 3
    assert pages[-1].cursor is not None
    assert "expired" in caplog.text


async def test_table_without_change_tracking_is_refused(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    with pytest.raises(ConfigurationError, match="change tracking is not enabled on table 'note'"):
        await _pages(connector.track_changes("note", None, None))
    assert org.data_requests() == []


async def test_cursor_to_another_host_is_refused(connector: DataverseConnector) -> None:
    with pytest.raises(ProtocolError, match="another origin"):
        await _pages(
            connector.track_changes("contact", None, "https://evil.example.com/x?$deltatoken=1")
        )


@pytest.mark.parametrize(
    ("page", "error", "fragment"),
    [
        ({"no": "value"}, MalformedAnswerError, "without its 'value' list of rows"),
        ({"value": {"a": 1}}, MalformedAnswerError, "without its 'value' list of rows"),
        ({"value": [1, 2]}, MalformedAnswerError, "without its 'value' list of rows"),
        ({"value": [], "@odata.nextLink": 5}, ProtocolError, "not a string"),
    ],
)
async def test_malformed_pages_are_errors(
    connector: DataverseConnector,
    org: FakeOrg,
    page: dict[str, Any],
    error: type[Exception],
    fragment: str,
) -> None:
    org.data = lambda request: json_response(200, page)
    with pytest.raises(error, match=fragment):
        await _pages(connector.read_all("contact", ["firstname"]))


async def test_a_row_without_its_key_is_a_record_without_id_next_to_the_others(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    keyless = _row(2)
    del keyless["contactid"]
    org.data = PagedContacts([_row(1), keyless, {**_row(3), "contactid": None}])
    pages = await _pages(connector.read_all("contact", ["firstname"]))
    records = [r for page in pages for r in page]
    assert [(r.id, r.values["firstname"]) for r in records] == [
        ("00000000-0000-0000-0000-000000000001", "First1"),
        ("", "First2"),
        ("", "First3"),
    ]


async def test_an_id_with_a_nul_character_is_escaped_and_noted(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    row = {**_row(1), "contactid": "00000000-0000-0000-0000-\x00"}
    org.data = lambda request: json_response(200, {"value": [row]})
    (page,) = await _pages(connector.read_all("contact", ["firstname"]))
    assert page[0].id == "00000000-0000-0000-0000-\\u0000"
    assert page[0].values[INVALID_TEXT] == "the id holds a NUL character (\\u0000)"
    assert page[0].values["firstname"] == "First1"


async def test_a_row_with_invalid_text_keeps_its_note(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    row = _row(1)
    row["firstname"] = "\\ud800"
    row[INVALID_TEXT] = "'firstname' holds a lone UTF-16 surrogate"
    org.data = lambda request: json_response(200, {"value": [row]})
    (page,) = await _pages(connector.read_all("contact", ["firstname"]))
    assert page[0].values[INVALID_TEXT] == "'firstname' holds a lone UTF-16 surrogate"


async def test_tracking_round_without_delta_link_is_a_protocol_error(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    org.data = lambda request: json_response(200, {"value": [_row(1)]})
    with pytest.raises(ProtocolError, match=r"no @odata\.deltaLink"):
        await _pages(connector.track_changes("contact", None, None))


async def test_deleted_entity_without_id_is_a_protocol_error(
    connector: DataverseConnector, org: FakeOrg
) -> None:
    org.data = lambda request: json_response(
        200,
        {
            "value": [{"@odata.context": f"{ROOT}$metadata#contacts/$deletedEntity"}],
            "@odata.deltaLink": f"{ROOT}contacts?$deltatoken=2",
        },
    )
    with pytest.raises(ProtocolError, match="no id"):
        await _pages(connector.track_changes("contact", None, "contacts?$deltatoken=1"))


def test_reconcile_deletions_finds_what_the_snapshot_lacks() -> None:
    snapshot = ["AAAAAAAA-0000-0000-0000-000000000001", "{aaaaaaaa-0000-0000-0000-000000000002}"]
    known = [
        "aaaaaaaa-0000-0000-0000-000000000001",
        "aaaaaaaa-0000-0000-0000-000000000002",
        "aaaaaaaa-0000-0000-0000-000000000003",
    ]
    assert reconcile_deletions(snapshot, known) == [
        Deletion(id="aaaaaaaa-0000-0000-0000-000000000003")
    ]
    assert reconcile_deletions(iter(known), known) == []
    assert reconcile_deletions([], known[:1]) == [Deletion(id=known[0])]
