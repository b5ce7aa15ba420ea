"""A small scripted Salesforce org behind ``httpx.MockTransport``, a fake clock, and builders.

It understands just the SOQL the connector writes (a field list, ``>=``/``>`` on the cursor field,
the keyset condition of a closed window, ``ORDER BY``) and keeps records in memory; tests can put
scripted answers in front of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime as http_date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson

from crmsync.connectors.salesforce import SalesforceConnectionConfig

LOGIN = "https://acme.my.salesforce.com"
INSTANCE = "https://acme-instance.my.salesforce.com"
ROOT = "/services/data/v62.0/"
SECRET = "s3cret-Value-123"
#: The variable the settings name for the secret (set by the ``client_secret`` fixture).
SECRET_ENV = "CRMSYNC_TEST_SECRET"
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response | None]


def make_config(**overrides: Any) -> SalesforceConnectionConfig:
    values: dict[str, Any] = {
        "url": LOGIN,
        "client_id": "consumer-key",
        "client_secret_env": SECRET_ENV,
        "backoff_initial_seconds": 1.0,
        "backoff_max_seconds": 8.0,
        "page_size": 200,
        **overrides,
    }
    return SalesforceConnectionConfig(**values)


def sf_time(moment: datetime) -> str:
    """How Salesforce writes a timestamp: ``2026-03-01T12:00:00.000+0000``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}+0000"
    )


def sf_error(status: int, code: str, message: str = "refused") -> httpx.Response:
    return httpx.Response(status, json=[{"message": message, "errorCode": code, "fields": []}])


def _field(name: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "label": name,
        "createable": True,
        "updateable": True,
        "nillable": True,
        "defaultedOnCreate": False,
        "externalId": False,
        "nameField": False,
        "picklistValues": [],
        "referenceTo": [],
        "length": 0,
        **extra,
    }


DESCRIBES: dict[str, dict[str, Any]] = {
    "Contact": {
        "name": "Contact",
        "label": "Contact",
        "replicateable": True,
        "queryable": True,
        "fields": [
            _field("Id", "id", createable=False, updateable=False, nillable=False),
            _field("FirstName", "string", length=40),
            _field("LastName", "string", length=80, nillable=False),
            _field("Name", "string", createable=False, updateable=False, nameField=True),
            _field("Email", "email"),
            _field("Description", "textarea", length=32000),
            _field("Title", "textarea", length=128),
            _field("DoNotCall", "boolean", nillable=False, defaultedOnCreate=True),
            _field("NumberOfKids__c", "double"),
            _field("Visits__c", "int"),
            _field("Score__c", "percent"),
            _field("Budget__c", "currency"),
            _field("Birthdate", "date"),
            _field(
                "LeadSource",
                "picklist",
                picklistValues=[
                    {"value": "Web", "label": "Web site", "active": True},
                    {"value": "Phone Inquiry", "label": "Phone Inquiry", "active": True},
                ],
            ),
            _field("Hobbies__c", "multipicklist", picklistValues=[{"value": "Golf"}]),
            _field("AccountId", "reference", referenceTo=["Account"]),
            _field("MailingAddress", "address", createable=False, updateable=False),
            _field("External_Id__c", "string", externalId=True),
            _field("SystemModstamp", "datetime", createable=False, updateable=False),
            _field("LastModifiedDate", "datetime", createable=False, updateable=False),
            _field("IsDeleted", "boolean", createable=False, updateable=False, nillable=False),
            _field("Photo__c", "base64"),
        ],
    },
    "Account": {
        "name": "Account",
        "label": "Account",
        "replicateable": True,
        "queryable": True,
        "fields": [
            _field("Id", "id", createable=False, updateable=False, nillable=False),
            _field("Name", "string", nillable=False, nameField=True),
            _field("AccountNumber", "string", externalId=True),
            _field("SystemModstamp", "datetime", createable=False, updateable=False),
        ],
    },
    "Log__c": {
        "name": "Log__c",
        "label": "Log",
        "replicateable": False,
        "queryable": True,
        "fields": [
            _field("Id", "id", createable=False, updateable=False, nillable=False),
            _field("SystemModstamp", "datetime", createable=False, updateable=False),
        ],
    },
}


class FakeOrg:
    """Records in memory, the REST resources the connector uses, and scripted interruptions.

    ``before`` handlers run first; one that returns a response answers the request instead.
    """

    def __init__(self) -> None:
        self.now = NOW
        self.rows: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in DESCRIBES}
        #: The recycle bin (what queryAll adds) and the delete log (what deleted/ reads).
        self.bin: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in DESCRIBES}
        self.deleted: dict[str, list[dict[str, str]]] = {t: [] for t in DESCRIBES}
        self.earliest_deleted = NOW - timedelta(days=15)
        self.requests: list[httpx.Request] = []
        self.before: list[Handler] = []
        self.api_used = 10
        self.api_max = 5000
        self.token_answer: httpx.Response | None = None
        self.tokens_issued = 0
        self._next_id = 1
        self._cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}

    # -- test helpers ------------------------------------------------------------------------

    def add(self, table: str, at: datetime | None = None, **values: Any) -> str:
        record_id = values.pop("Id", None) or self.new_id(table)
        stamp = sf_time(at or self.now)
        self.bin[table].pop(record_id, None)  # an undelete, when it was there
        self.rows[table][record_id] = {
            "Id": record_id,
            **values,
            "SystemModstamp": stamp,
            "LastModifiedDate": stamp,
            "IsDeleted": False,
        }
        return record_id

    def delete(self, table: str, record_id: str, at: datetime | None = None) -> None:
        stamp = sf_time(at or self.now)
        row = self.rows[table].pop(record_id)
        self.bin[table][record_id] = {**row, "IsDeleted": True, "SystemModstamp": stamp}
        self.deleted[table].append({"id": record_id, "deletedDate": stamp})

    def purge(self, table: str, record_id: str) -> None:
        """Empty the record out of the recycle bin: only the delete log remembers it."""
        del self.bin[table][record_id]

    def new_id(self, table: str) -> str:
        prefix = {"Contact": "003", "Account": "001"}.get(table, "a00")
        self._next_id += 1
        return f"{prefix}{self._next_id:012d}AAA"

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    # -- the transport -----------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for handler in list(self.before):
            answer = handler(request)
            if answer is not None:
                return self._headers(answer)
        return self._headers(self._route(request))

    def _headers(self, response: httpx.Response) -> httpx.Response:
        self.api_used += 1
        response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{self.api_max}"
        response.headers["Date"] = http_date(self.now, usegmt=True)
        return response

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/services/oauth2/token":
            return self._token(request)
        if request.url.host != urlsplit(INSTANCE).hostname:
            return httpx.Response(404, text="wrong host")
        if request.headers.get("Authorization") != "Bearer token-1":
            return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if not path.startswith(ROOT):
            return httpx.Response(404)
        rest = path[len(ROOT) :]
        params = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        if rest == "sobjects/":
            return httpx.Response(
                200, json={"sobjects": [{"name": n, "queryable": True} for n in DESCRIBES]}
            )
        if match := re.fullmatch(r"sobjects/(\w+)/describe/", rest):
            describe = DESCRIBES.get(match.group(1))
            if describe is None:
                return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
            return httpx.Response(200, json=describe)
        if match := re.fullmatch(r"sobjects/(\w+)/deleted/", rest):
            return self._deleted(match.group(1), params)
        if rest in ("query/", "queryAll/"):
            return self._query(params["q"], request, all_rows=rest == "queryAll/")
        if rest.startswith("query/"):
            return self._more(rest[len("query/") :])
        if rest.startswith("composite/sobjects"):
            return self._collection(request, rest, params)
        return sf_error(404, "NOT_FOUND", f"no resource {rest}")

    def _token(self, request: httpx.Request) -> httpx.Response:
        if self.token_answer is not None:
            return self.token_answer
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if form.get("client_secret") != SECRET:
            return httpx.Response(
                400, json={"error": "invalid_client", "error_description": "invalid client secret"}
            )
        self.tokens_issued += 1
        return httpx.Response(
            200,
            json={
                "access_token": "token-1",
                "instance_url": INSTANCE,
                "id": f"{LOGIN}/id/00D000000000001AAA/005000000000001AAA",
                "token_type": "Bearer",
                "issued_at": "1767225600000",
                "signature": "sig",
            },
        )

    def _query(self, soql: str, request: httpx.Request, *, all_rows: bool) -> httpx.Response:
        match = re.fullmatch(
            r"SELECT (?P<fields>[\w,]+) FROM (?P<table>\w+)"
            r"(?: WHERE (?P<where>.+?))?(?: ORDER BY (?P<order>[\w,]+))?",
            soql,
        )
        if match is None or match["table"] not in DESCRIBES:
            return sf_error(400, "MALFORMED_QUERY", f"unexpected query {soql}")
        fields = match["fields"].split(",")
        rows = list(self.rows[match["table"]].values())
        if all_rows:
            rows += list(self.bin[match["table"]].values())
        if match["where"]:
            keep = _condition(match["where"])
            if keep is None:
                return sf_error(400, "MALFORMED_QUERY", f"unexpected filter {match['where']}")
            rows = [r for r in rows if keep(r)]
        if match["order"]:
            keys = match["order"].split(",")
            rows.sort(key=lambda r: tuple(_sortable(r.get(k)) for k in keys))
        shaped = [
            {"attributes": {"type": match["table"]}, **{f: row.get(f) for f in fields}}
            for row in rows
        ]
        size = int(request.headers.get("Sforce-Query-Options", "batchSize=2000").split("=")[1])
        locator = f"01g{len(self._cursors):05d}"
        self._cursors[locator] = (shaped, size)
        return self._page(locator, 0)

    def _more(self, token: str) -> httpx.Response:
        locator, _, offset = token.partition("-")
        if locator not in self._cursors:
            return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(locator, int(offset))

    def _page(self, locator: str, offset: int) -> httpx.Response:
        shaped, size = self._cursors[locator]
        batch = shaped[offset : offset + size]
        body: dict[str, Any] = {"totalSize": len(shaped), "done": True, "records": batch}
        if offset + size < len(shaped):
            body["done"] = False
            body["nextRecordsUrl"] = f"{ROOT}query/{locator}-{offset + size}"
        return httpx.Response(200, json=body)

    def _deleted(self, table: str, params: dict[str, str]) -> httpx.Response:
        start = datetime.fromisoformat(params["start"])
        end = datetime.fromisoformat(params["end"])
        if start < self.earliest_deleted or end - start <= timedelta(minutes=1):
            return sf_error(400, "INVALID_REPLICATION_DATE", "start date before earliest")
        found = [d for d in self.deleted[table] if start <= _parse(d["deletedDate"]) < end]
        return httpx.Response(
            200,
            json={
                "deletedRecords": found,
                "earliestDateAvailable": sf_time(self.earliest_deleted),
                "latestDateCovered": sf_time(end),
            },
        )

    def _collection(
        self, request: httpx.Request, rest: str, params: dict[str, str]
    ) -> httpx.Response:
        results: list[dict[str, Any]] = []
        if request.method == "DELETE":
            for record_id in params["ids"].split(","):
                table = next((t for t, rows in self.rows.items() if record_id in rows), None)
                if table is None:
                    results.append(_failure("ENTITY_IS_DELETED", "entity is deleted"))
                else:
                    self.delete(table, record_id)
                    results.append({"id": record_id, "success": True, "errors": []})
            return httpx.Response(200, json=results)
        body = orjson.loads(request.content)
        assert body["allOrNone"] is False
        key = rest.split("/")[3] if rest.count("/") == 3 else None
        for record in body["records"]:
            table = record.pop("attributes")["type"]
            results.append(self._write_one(request.method, table, key, record))
        return httpx.Response(200, json=results)

    def _write_one(
        self, method: str, table: str, key: str | None, record: dict[str, Any]
    ) -> dict[str, Any]:
        known = {f["name"] for f in DESCRIBES[table]["fields"]}
        unknown = sorted(set(record) - known)
        if unknown:
            return _failure("INVALID_FIELD", f"No such column '{unknown[0]}'", unknown)
        if method == "POST" or key is not None:
            existing = None
            if key is not None:
                existing = next(
                    (r for r in self.rows[table].values() if r.get(key) == record[key]), None
                )
            if existing is None:
                if table == "Contact" and not record.get("LastName"):
                    return _failure(
                        "REQUIRED_FIELD_MISSING",
                        "Required fields are missing: [LastName]",
                        ["LastName"],
                    )
                record_id = self.add(table, **record)
                return {"id": record_id, "success": True, "errors": [], "created": True}
            existing.update(record)
            existing["SystemModstamp"] = sf_time(self.now)
            return {"id": existing["Id"], "success": True, "errors": [], "created": False}
        row = self.rows[table].get(record["Id"])
        if row is None:
            return _failure("ENTITY_IS_DELETED", "entity is deleted")
        row.update(record)
        row["SystemModstamp"] = sf_time(self.now)
        return {"id": row["Id"], "success": True, "errors": []}


def _failure(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"statusCode": code, "message": message, "fields": fields or []}],
    }


def _condition(where: str) -> Callable[[dict[str, Any]], bool] | None:
    """``F >= t``, ``F > t`` or the keyset ``F > t OR (F = t AND Id > 'x')``."""
    if cond := re.fullmatch(r"(\w+) (>=|>) (\S+)", where):
        field, op, at = cond[1], cond[2], _parse(cond[3])
        if op == ">=":
            return lambda r: _parse(r[field]) >= at
        return lambda r: _parse(r[field]) > at
    keyset = re.fullmatch(r"(\w+) > (\S+) OR \(\1 = \2 AND Id > '(\w+)'\)", where)
    if keyset is None:
        return None
    field, at, after = keyset[1], _parse(keyset[2]), keyset[3]
    return lambda r: (_parse(r[field]), r["Id"]) > (at, after)


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def _sortable(value: Any) -> Any:
    if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}T", value):
        return _parse(value)
    return value if value is not None else ""
