"""Values of a field's common shape are written without the field's step: the rows (in Python's
types, and in each store driver's form) and the rejects must be exactly the steps' own."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from crm_tables import contact_table
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from crmsync.config.models import InboundMapping
from crmsync.connectors.base import CrmType, FieldInfo, Option, Record
from crmsync.errors import RejectError
from crmsync.store.bulk import column_processors, driver_values
from crmsync.store.resources import ResourceDefinition
from crmsync.store.tables import build_metadata, definitions_with_profile
from crmsync.sync.convert import Shape
from crmsync.sync.parse import ConversionError
from crmsync.sync.transform import CompiledMapping, _planned_steps, compile_mapping

T = CrmType
#: (CRM field, CRM type, Campaign type, length, the shape expected)
FIELDS = [
    ("name", T.STRING, "string", 5, Shape.TEXT),
    ("memo", T.MEMO, "text", None, Shape.TEXT),
    ("owner", T.LOOKUP, "string", 36, Shape.TEXT),
    ("children", T.INTEGER, "integer", None, Shape.INT),
    ("tier", T.PICKLIST, "integer", None, Shape.INT),
    ("optout", T.BOOLEAN, "boolean", None, Shape.BOOL),
    ("credit", T.MONEY, "double", None, Shape.FLOAT),
    ("born", T.DATE, "date", None, Shape.DATE),
    ("modified", T.DATETIME, "datetime", None, Shape.DATETIME),
    ("fixed", T.DATETIME, "datetime", None, Shape.DATETIME),
    ("ratio", T.DOUBLE, "float", None, Shape.NONE),  # single precision: a range check
    ("count_text", T.INTEGER, "string", 10, Shape.NONE),  # converted to text
    ("tier_label", T.PICKLIST, "string", 20, Shape.NONE),  # display labels
]
TABLE = contact_table(
    *(
        FieldInfo(
            name,
            crm_type,
            options=(Option(1, "Gold"), Option(2, "Silver")) if crm_type is T.PICKLIST else (),
            date_behavior="TimeZoneIndependent" if name == "fixed" else None,
            read_name="_owner_value" if crm_type is T.LOOKUP else "",
        )
        for name, crm_type, *_ in FIELDS
    )
)
RESOURCE = ResourceDefinition.model_validate(
    {
        "name": "person",
        "identifier": "crm_id",
        "fields": [
            {"name": "crm_id", "type": "string", "length": 36},
            *(
                {"name": name, "type": kind, **({"length": length} if length else {})}
                for name, _, kind, length, _ in FIELDS
            ),
        ],
    }
)
DEFINITIONS = definitions_with_profile([RESOURCE])
STORE_TABLE = build_metadata(DEFINITIONS).tables["person"]
DIALECTS: tuple[sa.Dialect, ...] = (
    sqlite.dialect(),
    postgresql.dialect(),  # type: ignore[no-untyped-call]
)


def _compiled(**overrides: Any) -> CompiledMapping:
    fields = [{"crm": name, "campaign": name} for name, *_ in FIELDS if name != "tier_label"]
    fields.append({"crm": "tier", "campaign": "tier_label"})
    data: dict[str, Any] = {
        "name": "people",
        "connection": "crm",
        "crm_table": "contact",
        "resource": "person",
        "primary_key": {"campaign": "crm_id"},
        "fields": fields,
    }
    return compile_mapping(
        InboundMapping.model_validate(data | overrides), TABLE, RESOURCE, resources=DEFINITIONS
    )


COMPILED = _compiled()


def _wire(name: str) -> str:
    return "_owner_value" if name == "owner" else name


def _by_steps(record: Record) -> dict[str, Any] | str:
    """The reference: every value through its field's step (or the reject code)."""
    row: dict[str, Any] = {"crm_id": record.id}
    try:
        for step in COMPILED._steps:
            row[step.column] = step.step(record.values.get(step.wire), record)
    except ConversionError as exc:
        return exc.code.value
    return row


def _outcome(make: Callable[[Record], dict[str, Any]], record: Record) -> dict[str, Any] | str:
    try:
        return make(record)
    except RejectError as exc:
        return exc.code or "no code"


def _assert_same_everywhere(values: dict[str, Any]) -> None:
    record = Record("id-1", values, {}, 1)
    expected = _by_steps(record)
    assert _outcome(COMPILED.to_row, record) == expected
    for dialect in DIALECTS:
        processors = column_processors(dialect, STORE_TABLE, COMPILED.columns)
        made = _outcome(COMPILED.row_maker(processors), record)
        if isinstance(expected, str):
            assert made == expected
            continue
        as_driver = driver_values(dialect, STORE_TABLE, COMPILED.columns)
        assert isinstance(made, dict)
        assert tuple(made.values()) == as_driver(expected)


def test_the_common_cases_have_their_shapes() -> None:
    shapes = {step.column: step.shape for step in COMPILED._steps}
    assert shapes == {name: shape for name, *_, shape in FIELDS}
    replaced = _compiled(replacements=[{"field": "name", "from": "x", "to": "y"}])
    assert {s.column: s.shape for s in replaced._steps}["name"] is Shape.NONE


GOOD = {
    "name": "Ann",
    "memo": "a long text " * 20,
    "_owner_value": "00000000-0000-0000-0000-000000000001",
    "children": 3,
    "tier": 2,
    "optout": True,
    "credit": 1500.5,
    "born": "1990-05-17",
    "modified": "2024-03-31T01:30:00Z",
    "fixed": "2024-03-31T01:30:00Z",
    "ratio": 0.5,
    "count_text": 12,
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Annie"),
        ("name", "Annabel"),  # too long
        ("name", ""),
        ("name", "ÅÄÖüß"),
        ("name", 5),
        ("name", None),
        ("children", 2**63),
        ("children", -(2**63)),
        ("children", True),
        ("children", 3.0),
        ("children", 3.5),
        ("children", "7"),
        ("tier", 9),
        ("optout", False),
        ("optout", 1),
        ("optout", "true"),
        ("optout", "x"),
        ("optout", None),
        ("credit", 2),
        ("credit", math.nan),
        ("credit", math.inf),
        ("credit", "1.5"),
        ("credit", None),
        ("born", "1990-5-17"),
        ("born", "2024-W13-7"),
        ("born", "19900517"),
        ("born", "1990-02-30"),
        ("born", "1990-05-17T10:00:00Z"),
        ("born", "١٩٩٠-٠٥-١٧"),
        ("born", None),
        ("modified", "2024-03-31T01:30:00+02:00"),
        ("modified", "2024-03-31T01:30:00.123Z"),
        ("modified", "2024-03-31T01:30:00"),
        ("modified", "2024-03-31 01:30:00Z"),
        ("modified", "2024-02-30T01:30:00Z"),
        ("modified", "2024-03-31T24:00:00Z"),
        ("modified", "2024-03-31T01:30:00z"),
        # 20 characters with "T" and "Z" in their places that Python's parser reads, in
        # other layouts: an ISO week date, a time without separators.
        ("modified", "2024-W13-7T01:30:00Z"),
        ("modified", "2024-03-31T013000.0Z"),
        ("fixed", "2024-03-31T01:30:00"),
        ("fixed", None),
    ],
)
def test_every_value_is_written_or_rejected_as_its_step_would(field: str, value: Any) -> None:
    _assert_same_everywhere(GOOD | {field: value})


def test_a_good_record_takes_the_common_shapes_everywhere() -> None:
    _assert_same_everywhere(GOOD)


def test_dates_and_date_times_keep_their_shape_in_each_driver_form() -> None:
    # SQLite takes them as text, PostgreSQL as the parsed date and UTC date-time.
    for dialect in DIALECTS:
        processors = column_processors(dialect, STORE_TABLE, COMPILED.columns)
        plan = _planned_steps(COMPILED._steps, processors)
        shapes = {column: Shape(shape) for column, _, shape, *_ in plan}
        assert shapes["born"] is Shape.DATE, dialect.name
        assert shapes["modified"] is shapes["fixed"] is Shape.DATETIME, dialect.name


_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=25),
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat(timespec="seconds") + "Z"),
)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries(dict.fromkeys(GOOD, _ANY)))
def test_any_values_are_written_or_rejected_as_their_steps_would(values: dict[str, Any]) -> None:
    _assert_same_everywhere(values)
