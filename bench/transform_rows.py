"""Records per second of the inbound transformation: ``to_row`` and ``passes`` of a mapping.

A 25-field Dataverse-shaped contact (text, picklists with display labels, booleans, money,
decimals, dates, date-times, a lookup) mapped into a custom resource, with two filters and a
replacement. Run: ``.venv/bin/python -m bench.transform_rows [--records 200000]``.
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from crmsync.config.models import InboundMapping
from crmsync.connectors.base import CrmType, FieldInfo, Option, Record, TableInfo
from crmsync.store.resources import PROFILE, ResourceDefinition
from crmsync.sync.transform import CompiledMapping, compile_mapping

# (CRM field, CRM type, Campaign type, string length)
_FIELDS: list[tuple[str, CrmType, str, int | None]] = [
    ("firstname", CrmType.STRING, "string", 255),
    ("lastname", CrmType.STRING, "string", 255),
    ("fullname", CrmType.STRING, "string", 255),
    ("emailaddress1", CrmType.STRING, "string", 320),
    ("emailaddress2", CrmType.STRING, "string", 320),
    ("telephone1", CrmType.STRING, "string", 64),
    ("mobilephone", CrmType.STRING, "string", 64),
    ("jobtitle", CrmType.STRING, "string", 255),
    ("address1_line1", CrmType.STRING, "string", 255),
    ("address1_city", CrmType.STRING, "string", 255),
    ("address1_postalcode", CrmType.STRING, "string", 32),
    ("address1_country", CrmType.STRING, "string", 255),
    ("description", CrmType.MEMO, "text", None),
    ("gendercode", CrmType.PICKLIST, "string", 64),
    ("preferredcontactmethodcode", CrmType.PICKLIST, "string", 64),
    ("donotemail", CrmType.BOOLEAN, "boolean", None),
    ("donotphone", CrmType.BOOLEAN, "boolean", None),
    ("creditlimit", CrmType.MONEY, "double", None),
    ("annualincome", CrmType.MONEY, "double", None),
    ("numberofchildren", CrmType.INTEGER, "integer", None),
    ("exchangerate", CrmType.DECIMAL, "double", None),
    ("birthdate", CrmType.DATE, "date", None),
    ("createdon", CrmType.DATETIME, "datetime", None),
    ("modifiedon", CrmType.DATETIME, "datetime", None),
    ("parentcustomerid", CrmType.LOOKUP, "string", 36),
]
_OPTIONS = (Option(1, "Male"), Option(2, "Female"), Option(3, "Other"))


def build() -> CompiledMapping:
    fields = {"contactid": FieldInfo("contactid", CrmType.UNIQUEIDENTIFIER)}
    for name, crm_type, _, _ in _FIELDS:
        fields[name] = FieldInfo(
            name,
            crm_type,
            options=_OPTIONS if crm_type is CrmType.PICKLIST else (),
            date_behavior="UserLocal" if crm_type is CrmType.DATETIME else None,
            read_name=f"_{name}_value" if crm_type is CrmType.LOOKUP else "",
        )
    fields["statecode"] = FieldInfo("statecode", CrmType.PICKLIST, options=(Option(0, "Active"),))
    table = TableInfo("contact", "contacts", "contactid", "fullname", True, fields)
    resource = ResourceDefinition.model_validate(
        {
            "name": "crm_contact",
            "identifier": "crm_id",
            "fields": [{"name": "crm_id", "type": "string", "length": 36}]
            + [
                {"name": name, "type": kind, **({"length": length} if length else {})}
                for name, _, kind, length in _FIELDS
            ],
        }
    )
    mapping = InboundMapping.model_validate(
        {
            "name": "contacts",
            "connection": "crm",
            "crm_table": "contact",
            "resource": "crm_contact",
            "primary_key": {"campaign": "crm_id"},
            "fields": [{"crm": name, "campaign": name} for name, *_ in _FIELDS],
            "replacements": [{"field": "gendercode", "from": 3, "to": "Unspecified"}],
            "filters": {
                "combine": "and",
                "conditions": [
                    {"field": "statecode", "op": "eq", "value": 0},
                    {"field": "emailaddress1", "op": "is_not_empty"},
                ],
            },
            "picklist_values": "display",
        }
    )
    resources = {"profile": PROFILE, "crm_contact": resource}
    return compile_mapping(mapping, table, resource, resources=resources)


def record(n: int) -> Record:
    values: dict[str, Any] = {
        "contactid": str(uuid.UUID(int=n)),
        "firstname": f"First{n}",
        "lastname": f"Last{n}",
        "fullname": f"First{n} Last{n}",
        "emailaddress1": f"person{n}@example.com",
        "emailaddress2": None,
        "telephone1": "+46 8 123 456",
        "mobilephone": "+46 70 123 45 67",
        "jobtitle": "Engineer",
        "address1_line1": "Storgatan 1",
        "address1_city": "Stockholm",
        "address1_postalcode": "111 22",
        "address1_country": "Sweden",
        "description": "A long description " * 5,
        "gendercode": n % 3 + 1,
        "preferredcontactmethodcode": 1,
        "donotemail": n % 2 == 0,
        "donotphone": False,
        "creditlimit": 1500.5,
        "annualincome": 98000,
        "numberofchildren": 2,
        "exchangerate": 1.0,
        "birthdate": "1990-05-17",
        "createdon": "2024-03-31T01:30:00Z",
        "modifiedon": "2024-10-27T02:30:00+02:00",
        "_parentcustomerid_value": str(uuid.UUID(int=n + 1)),
        "statecode": 0,
    }
    formatted = {"gendercode": "Male", "statecode": "Active", "donotemail": "Allow"}
    return Record(id=values["contactid"], values=values, formatted=formatted, version=n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    compiled = build()
    records = [record(n) for n in range(min(args.records, 10_000))]
    repeat = max(1, args.records // len(records))
    for label, work in (
        ("to_row", compiled.to_row),
        ("passes", compiled.passes),
        ("passes + to_row", lambda r: compiled.passes(r) and compiled.to_row(r)),
    ):
        best = 0.0
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(repeat):
                for rec in records:
                    work(rec)
            elapsed = time.perf_counter() - start
            best = max(best, repeat * len(records) / elapsed)
        print(f"{label:>16}: {best:,.0f} records/s ({len(_FIELDS)} mapped fields)")


if __name__ == "__main__":
    main()
