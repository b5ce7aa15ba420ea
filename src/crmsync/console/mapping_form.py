"""The mapping editor's form: HTML form fields ↔ a draft ↔ an :class:`InboundMapping`.

A *draft* is the mapping as the form holds it: the shape of ``InboundMapping`` (by alias), with
every value as the text of its input, so that a half-filled form can be shown again as it was.
Rows are named ``fields-<i>-crm``, ``replacements-<i>-from``, ``filters-<i>-op``…

Turning a draft into a mapping converts the texts by the CRM field's type (a picklist's value is
an integer in Dataverse, a boolean is ``true``/``false``) and reports every problem under the
path of the model (``fields.1.campaign``), which the editor shows next to that input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from crmsync.config import ConfigError
from crmsync.config.models import InboundMapping, Scalar
from crmsync.connectors.base import CrmType
from crmsync.store.types import CampaignType

__all__ = [
    "ROWS",
    "DraftInvalid",
    "add_row",
    "draft_from_form",
    "draft_from_mapping",
    "issues_by_path",
    "mapping_from_draft",
    "remove_row",
]

#: The editor's repeated rows and the inputs of each.
ROWS: dict[str, tuple[str, ...]] = {
    "fields": ("crm", "campaign", "apply_updates"),
    "replacements": ("field", "from", "to"),
    "filters": ("field", "op", "value"),
}
_ROW_INPUT = re.compile(r"(fields|replacements|filters)-(\d{1,4})-(\w+)")
_SWITCHES = ("delete_filtered_out", "apply_deletes", "two_way")
_NO_VALUE_OPS = ("is_empty", "is_not_empty")
_INTEGERS = (CrmType.INTEGER, CrmType.BIGINT)
_NUMBERS = (CrmType.DECIMAL, CrmType.DOUBLE, CrmType.MONEY)


class DraftInvalid(Exception):
    """The draft is not a valid mapping: ``issues`` maps model paths to messages."""

    def __init__(self, issues: dict[str, str]) -> None:
        super().__init__("; ".join(f"{path}: {text}" for path, text in issues.items()))
        self.issues = issues


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def draft_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The draft the submitted form holds (unchecked boxes are absent from a form: off)."""
    rows: dict[str, dict[int, dict[str, str]]] = {kind: {} for kind in ROWS}
    for key, value in form.items():
        found = _ROW_INPUT.fullmatch(key)
        if found and found[3] in ROWS[found[1]]:
            rows[found[1]].setdefault(int(found[2]), {})[found[3]] = value.strip()

    def ordered(kind: str) -> list[dict[str, str]]:
        return [rows[kind][i] for i in sorted(rows[kind])]

    return {
        "name": form.get("name", "").strip(),
        "connection": form.get("connection", "").strip(),
        "crm_table": form.get("crm_table", "").strip(),
        "resource": form.get("resource", "").strip(),
        "primary_key": {
            "crm": form.get("pk_crm", "").strip(),
            "campaign": form.get("pk_campaign", "").strip(),
        },
        "fields": [
            {
                "crm": row.get("crm", ""),
                "campaign": row.get("campaign", ""),
                "apply_updates": row.get("apply_updates") == "on",
            }
            for row in ordered("fields")
        ],
        "replacements": [
            {"field": row.get("field", ""), "from": row.get("from", ""), "to": row.get("to", "")}
            for row in ordered("replacements")
        ],
        "filters": {
            "combine": "or" if form.get("filters-combine") == "or" else "and",
            "conditions": [
                {
                    "field": row.get("field", ""),
                    "op": row.get("op", "eq"),
                    "value": row.get("value"),
                }
                for row in ordered("filters")
            ],
        },
        **{switch: form.get(switch) == "on" for switch in _SWITCHES},
        "picklist_values": "display" if form.get("picklist_values") == "display" else "technical",
    }


def draft_from_mapping(mapping: InboundMapping) -> dict[str, Any]:
    """The draft of a saved mapping (values as the texts of their inputs)."""
    data = mapping.model_dump(mode="json", by_alias=True)
    data["primary_key"]["crm"] = _text(data["primary_key"]["crm"])
    for row in data["replacements"]:
        row["from"], row["to"] = _text(row["from"]), _text(row["to"])
    for row in data["filters"]["conditions"]:
        row["value"] = _text(row["value"])
    return dict(data)


def add_row(draft: dict[str, Any], kind: str) -> None:
    """A new empty row of ``kind`` (new field mappings apply updates)."""
    if kind == "fields":
        draft["fields"].append({"crm": "", "campaign": "", "apply_updates": True})
    elif kind == "replacements":
        draft["replacements"].append({"field": "", "from": "", "to": ""})
    elif kind == "filters":
        draft["filters"]["conditions"].append({"field": "", "op": "eq", "value": ""})


def remove_row(draft: dict[str, Any], kind: str, index: int) -> None:
    rows = draft["filters"]["conditions"] if kind == "filters" else draft.get(kind, [])
    if 0 <= index < len(rows):
        del rows[index]


def _is_empty(row: Mapping[str, Any]) -> bool:
    return not any(value for key, value in row.items() if key != "apply_updates" and key != "op")


def _scalar(text: str, crm_type: CrmType | None, options: tuple[Scalar, ...]) -> Scalar:
    """``text`` as the value the CRM holds for a field of ``crm_type``."""
    for option in options:
        if _text(option) == text:
            return option
    if crm_type is CrmType.BOOLEAN:
        if text.lower() not in ("true", "false"):
            raise ValueError("a Boolean field's value is true or false")
        return text.lower() == "true"
    if crm_type in _INTEGERS or (crm_type is CrmType.PICKLIST and text.lstrip("-").isdigit()):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a whole number") from None
    if crm_type in _NUMBERS:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a number") from None
    return text


def _campaign_value(text: str, campaign_type: CampaignType | None) -> Scalar | None:
    """The replacement's new value, typed for the Campaign field it is written to."""
    if text == "":
        return None
    if campaign_type is CampaignType.BOOLEAN:
        if text.lower() not in ("true", "false"):
            raise ValueError("the Campaign field is boolean: write true or false")
        return text.lower() == "true"
    if campaign_type is CampaignType.INTEGER:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"the Campaign field is an integer: '{text}' is not") from None
    if campaign_type in (CampaignType.FLOAT, CampaignType.DOUBLE):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"the Campaign field is a number: '{text}' is not") from None
    return text


def mapping_from_draft(
    draft: dict[str, Any],
    crm_types: Mapping[str, CrmType],
    crm_options: Mapping[str, tuple[Scalar, ...]],
    campaign_types: Mapping[str, CampaignType],
) -> InboundMapping:
    """The mapping the draft describes; its empty rows are dropped from ``draft`` first, so
    that the paths of the problems (:class:`DraftInvalid`) name the rows as shown."""
    draft["fields"] = [row for row in draft["fields"] if not _is_empty(row)]
    draft["replacements"] = [row for row in draft["replacements"] if not _is_empty(row)]
    conditions = [row for row in draft["filters"]["conditions"] if not _is_empty(row)]
    draft["filters"]["conditions"] = conditions
    issues: dict[str, str] = {}
    targets = {row["crm"]: row["campaign"] for row in draft["fields"]}

    def typed(path: str, convert: Any, *args: Any) -> Any:
        try:
            return convert(*args)
        except ValueError as exc:
            issues[path] = str(exc)
            return None

    replacements = []
    for i, row in enumerate(draft["replacements"]):
        field = row["field"]
        replacements.append(
            {
                "field": field,
                "from": typed(
                    f"replacements.{i}.from",
                    _scalar,
                    row["from"],
                    crm_types.get(field),
                    crm_options.get(field, ()),
                )
                if row["from"] != ""
                else None,
                "to": typed(
                    f"replacements.{i}.to",
                    _campaign_value,
                    row["to"],
                    campaign_types.get(targets.get(field, "")),
                ),
            }
        )
    filters = []
    for i, row in enumerate(conditions):
        value = row.get("value") or ""
        if row["op"] in _NO_VALUE_OPS or value == "":
            converted = None
        else:
            converted = typed(
                f"filters.conditions.{i}.value",
                _scalar,
                value,
                crm_types.get(row["field"]),
                crm_options.get(row["field"], ()),
            )
        filters.append({"field": row["field"], "op": row["op"], "value": converted})
    data = {
        **draft,
        "primary_key": {
            "crm": draft["primary_key"]["crm"] or None,
            "campaign": draft["primary_key"]["campaign"],
        },
        "replacements": replacements,
        "filters": {"combine": draft["filters"]["combine"], "conditions": filters},
    }
    try:
        mapping = InboundMapping.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            path = ".".join(str(part) for part in error["loc"])
            issues.setdefault(path, error["msg"].removeprefix("Value error, "))
        raise DraftInvalid(issues) from None
    if issues:
        raise DraftInvalid(issues)
    return mapping


def issues_by_path(error: ConfigError, index: int) -> dict[str, str]:
    """The configuration's problems, by path inside mapping ``index`` of ``inbound.mappings``
    (problems elsewhere under their whole path)."""
    prefix = ("inbound", "mappings", index)
    out: dict[str, str] = {}
    for issue in error.issues:
        if not issue.is_error:
            continue
        inside = issue.loc[: len(prefix)] == prefix
        path = ".".join(str(part) for part in issue.loc[len(prefix) :]) if inside else issue.path
        out.setdefault(path or "(mapping)", issue.message)
    return out
