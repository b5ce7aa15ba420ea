"""The raw Salesforce REST client: URLs, bearer sessions, the API budget, error mapping, retries.

Every call goes to ``{instance_url}/services/data/{api_version}/…``. Before each one the client
checks the org's API usage (from the ``Sforce-Limit-Info`` header of the previous answer) against
``api_budget_share`` and stops with :class:`ApiBudgetExceeded` rather than use the requests the
org's other integrations need. A refused session (401) is renewed once per request; transient
failures are retried with bounded backoff; ``REQUEST_LIMIT_EXCEEDED`` is never retried.

The request loop is written out rather than taken from a retry library because the session
refresh, the shared pause and the budget check must share its state.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import orjson

from crmsync.connectors.answers import read_json
from crmsync.connectors.http import RetryingClient, json_body, origin, redact_url
from crmsync.connectors.salesforce.auth import OAuthSessionProvider, SessionProvider
from crmsync.connectors.salesforce.config import SalesforceConnectionConfig
from crmsync.connectors.salesforce.errors import ApiBudgetExceeded, error_from_response
from crmsync.connectors.server_time import ServerTime
from crmsync.errors import CrmsyncError, ProtocolError

__all__ = ["CallCounters", "SalesforceClient", "parse_limit_info"]

logger = logging.getLogger(__name__)

_BASE_HEADERS = {"Accept": "application/json", "User-Agent": "crmsync"}
_API_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


@dataclass(slots=True)
class CallCounters:
    """Requests sent to Salesforce, and the org's daily API usage as last reported."""

    reads: int = 0
    writes: int = 0
    retries: int = 0
    throttled: int = 0
    api_used: int | None = None
    api_max: int | None = None

    def snapshot(self) -> CallCounters:
        return replace(self)


def parse_limit_info(value: str | None) -> tuple[int, int] | None:
    """``(used, max)`` from ``Sforce-Limit-Info: api-usage=18/5000``; ``None`` if absent."""
    if not value:
        return None
    match = _API_USAGE.search(value)
    if match is None:
        return None
    used, limit = int(match.group(1)), int(match.group(2))
    return (used, limit) if limit > 0 else None


class SalesforceClient(RetryingClient):
    """Async client for one org's REST API.

    ``sessions`` defaults to signing in through the org's token endpoint with this client's own
    HTTP connection pool (and TLS settings), with the secrets read from ``environ`` (default: the
    process environment) and files.
    """

    def __init__(
        self,
        config: SalesforceConnectionConfig,
        sessions: SessionProvider | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        counters: CallCounters | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.counters = counters if counters is not None else CallCounters()
        super().__init__(
            config,
            self.counters,
            headers=_BASE_HEADERS,
            transport=transport,
            sleep=sleep,
            clock=clock,
            jitter=jitter,
            logger=logger,
        )
        self.sessions: SessionProvider = (
            sessions if sessions is not None else OAuthSessionProvider(config, self.http, environ)
        )
        self._server_time = ServerTime(clock)

    @property
    def http(self) -> httpx.AsyncClient:
        """The connection pool (shared with the default sign-in)."""
        return self._http

    # -- what callers use ----------------------------------------------------------------------

    async def get_json(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        table: str | None = None,
        rows: str | None = None,
    ) -> dict[str, Any]:
        """GET a path relative to the API root (or an instance path such as a
        ``nextRecordsUrl``); the answer must be a JSON object (with ``rows``, holding a list of
        objects under that key, as a query page its ``records``). A malformed answer is asked
        for again, and raises :class:`~crmsync.errors.MalformedAnswerError` when it stays so."""
        return await self._read(
            lambda: self.request("GET", path, params=params, headers=headers, table=table),
            partial(read_json, rows=rows),
        )

    async def send_json(
        self,
        method: str,
        path: str,
        body: Any | None = None,
        params: Mapping[str, str] | None = None,
        *,
        table: str | None = None,
        record_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        retry_unanswered: bool = True,
    ) -> Any:
        """A write (``POST``/``PATCH``/``DELETE``) with a JSON body; the answer's JSON or None.

        ``headers`` are added to the request (e.g. a precondition such as
        ``If-Unmodified-Since``). Without ``retry_unanswered`` (writes that must not happen
        twice), a write whose answer was lost is not sent again: its :class:`TransientError`
        (without ``status``) is raised."""
        sent = dict(headers or {})
        if body is not None:
            sent["Content-Type"] = "application/json"
        response = await self.request(
            method,
            path,
            params=params,
            headers=sent or None,
            content=orjson.dumps(body) if body is not None else None,
            table=table,
            record_id=record_id,
            record_operation=True,
            retry_unanswered=retry_unanswered,
        )
        return json_body(response) if response.content else None

    def server_now(self) -> datetime:
        """Salesforce's current time, from the ``Date`` header of the latest answer (the
        local clock until there is one): delete-log windows follow the server's clock."""
        return self.server_time() or datetime.now(UTC)

    def server_time(self) -> datetime | None:
        """Salesforce's current time from the ``Date`` of the latest answer; ``None`` until an
        answer carried one."""
        return self._server_time.now()

    # -- the one place requests are sent -------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        table: str | None = None,
        record_id: str | None = None,
        record_operation: bool = False,
        retry_unanswered: bool = True,
    ) -> httpx.Response:
        """Send with a session and retries; a 2xx answer or an exception from the error tree."""
        query = f"?{urlencode(params, quote_via=quote, safe=',')}" if params else ""

        async def prepare(force_refresh: bool) -> tuple[str, Mapping[str, str]]:
            session = await self.sessions.session(force_refresh=force_refresh)
            url = self._url(session.instance_url, path) + query
            all_headers = {"Authorization": f"Bearer {session.access_token}", **(headers or {})}
            if method == "GET":
                self.counters.reads += 1
            else:
                self.counters.writes += 1
            return url, all_headers

        def error_for(response: httpx.Response, url: str) -> CrmsyncError:
            return error_from_response(
                response.status_code,
                response.headers,
                response.content,
                method=method,
                url=url,
                table=table,
                record_id=record_id,
                record_operation=record_operation,
            )

        return await self._send(
            method,
            content,
            prepare=prepare,
            error_for=error_for,
            refused="session refused by Salesforce: signing in again once",
            retry_unanswered=retry_unanswered,
        )

    def _url(self, instance_url: str, path: str) -> str:
        if path.startswith(("https://", "http://")):
            if origin(path) != origin(instance_url):
                raise ProtocolError(
                    f"Salesforce sent a link to another origin ({redact_url(path)}); only links "
                    f"to {instance_url} are followed"
                )
            return path
        if path.startswith("/"):
            # Links in answers (nextRecordsUrl) are paths on the instance, under the REST root.
            if not path.startswith("/services/data/") or ".." in urlsplit(path).path:
                raise ProtocolError(f"Salesforce sent an unexpected link path {path[:200]!r}")
            return f"{instance_url}{path}"
        return self.config.api_root(instance_url) + path

    def _before_attempt(self) -> None:
        self._check_budget()

    def _check_budget(self) -> None:
        used, limit = self.counters.api_used, self.counters.api_max
        if used is None or limit is None:
            return
        share = self.config.api_budget_share
        if used >= share * limit:
            raise ApiBudgetExceeded(
                f"API budget: {used:,} of {limit:,} daily requests used; crmsync stops at "
                f"{share:.0%} (api_budget_share)",
                code="API_BUDGET_EXCEEDED",
            )

    def _observe(self, response: httpx.Response) -> None:
        usage = parse_limit_info(response.headers.get("sforce-limit-info"))
        if usage is not None:
            self.counters.api_used, self.counters.api_max = usage
        self._server_time.observe(response.headers)
