"""The raw Dataverse Web API client: URLs, headers, bearer tokens, error mapping and retries.

Everything above it (metadata, reader, writer) speaks in Web API paths and JSON objects; nothing
below it knows about tables or records.

Retries are a small loop rather than a retry library because three policies meet in it and must
share state: a connection-wide pause when Dataverse answers 429 (every sender waits, not only the
one that was throttled), a single token refresh on 401, and exponential backoff for other
transient failures.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode, urljoin

import httpx
import orjson

from crmsync.connectors.answers import read_json
from crmsync.connectors.dataverse.auth import TokenProvider
from crmsync.connectors.dataverse.config import DataverseConnectionConfig
from crmsync.connectors.dataverse.errors import error_from_response
from crmsync.connectors.http import PauseGate, RetryingClient, origin, redact_url
from crmsync.connectors.server_time import ServerTime
from crmsync.errors import CrmsyncError, ProtocolError
from crmsync.odata.batch import (
    BatchFormatError,
    BatchItem,
    BatchResponseItem,
    decode_responses,
    encode_requests,
)

__all__ = ["CallCounters", "DataverseClient", "PauseGate"]

logger = logging.getLogger(__name__)

_BASE_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "User-Agent": "crmsync",
}
# Dataverse's documented way to ask for current data rather than a cached answer.
_READ_HEADERS = {"If-None-Match": "null"}
_JSON = "application/json"
# Characters left as they are in query values: readable, and legal in a query string.
_QUERY_SAFE = "$,'()/:@"


@dataclass(slots=True)
class CallCounters:
    """Requests sent to the CRM, for "calls made" figures; retries are counted again."""

    reads: int = 0
    writes: int = 0
    batches: int = 0
    retries: int = 0
    throttled: int = 0

    def snapshot(self) -> CallCounters:
        return replace(self)


class DataverseClient(RetryingClient):
    """Async client for one organisation's Web API (``{url}/api/data/v9.2/``)."""

    def __init__(
        self,
        config: DataverseConnectionConfig,
        tokens: TokenProvider,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        counters: CallCounters | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.counters = counters if counters is not None else CallCounters()
        self.service_root = config.service_root
        self._origin = origin(self.service_root)
        self._tokens = tokens
        self._server_time = ServerTime(clock)
        super().__init__(
            config,
            self.counters,
            headers=_BASE_HEADERS,
            transport=transport,
            sleep=sleep,
            clock=clock,
            jitter=jitter,
            logger=logger,
            base_url=self.service_root,
            limits=httpx.Limits(
                max_connections=config.max_concurrency + 4,
                max_keepalive_connections=config.max_concurrency + 4,
            ),
        )

    # -- reads ---------------------------------------------------------------------------------

    async def get_json(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        table: str | None = None,
        rows: str | None = None,
    ) -> dict[str, Any]:
        """GET a path relative to the service root; the answer must be a JSON object (with
        ``rows``, holding a list of objects under that key, as a page its ``value``). A
        malformed answer is asked for again, and raises
        :class:`~crmsync.errors.MalformedAnswerError` when it stays so."""
        return await self._read(
            lambda: self.request("GET", path, params=params, headers=headers, table=table),
            partial(read_json, rows=rows),
        )

    async def get_url(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        table: str | None = None,
        rows: str | None = None,
    ) -> dict[str, Any]:
        """GET a link the service gave (``@odata.nextLink``/``deltaLink``) exactly as given;
        the answer as in :meth:`get_json`.

        Links to another scheme, host or port are refused: following them would send the
        bearer token elsewhere.
        """
        absolute = self.resolve_link(url)
        return await self._read(
            lambda: self.request("GET", absolute, headers=headers, table=table),
            partial(read_json, rows=rows),
        )

    def resolve_link(self, url: str) -> str:
        """``url`` made absolute against the service root, checked to stay on this origin."""
        absolute = urljoin(self.service_root, url)
        if origin(absolute) != self._origin:
            raise ProtocolError(
                f"the service sent a link to another origin ({redact_url(absolute)}); "
                f"only links to {self._origin} are followed"
            )
        return absolute

    # -- writes --------------------------------------------------------------------------------

    async def post(
        self,
        path: str,
        body: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
        *,
        table: str | None = None,
        record_id: str | None = None,
    ) -> httpx.Response:
        return await self._write("POST", path, body, headers, table, record_id)

    async def patch(
        self,
        path: str,
        body: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
        *,
        table: str | None = None,
        record_id: str | None = None,
    ) -> httpx.Response:
        return await self._write("PATCH", path, body, headers, table, record_id)

    async def delete(
        self,
        path: str,
        headers: Mapping[str, str] | None = None,
        *,
        table: str | None = None,
        record_id: str | None = None,
    ) -> httpx.Response:
        return await self.request(
            "DELETE", path, headers=headers, table=table, record_id=record_id, record_operation=True
        )

    async def batch(
        self, items: Sequence[BatchItem], *, continue_on_error: bool = True
    ) -> list[BatchResponseItem]:
        """Send one ``$batch``; the answer's parts, in order. Transient failures are retried."""
        body, content_type = encode_requests(items)
        headers = {"Content-Type": content_type}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        response = await self.request("POST", "$batch", headers=headers, content=body)
        answer_type = response.headers.get("content-type", "")
        where = redact_url(response.request.url)
        if not answer_type.lower().startswith("multipart/mixed"):
            raise ProtocolError(
                f"POST {where} answered {response.status_code} with content type "
                f"{answer_type or 'none'}, expected multipart/mixed",
                status=response.status_code,
            )
        try:
            parts = decode_responses(response.content, answer_type)
        except BatchFormatError as exc:
            raise ProtocolError(f"POST {where}: malformed $batch answer: {exc}") from None
        return parts

    # -- the one place requests are sent ---------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        table: str | None = None,
        record_id: str | None = None,
        record_operation: bool = False,
    ) -> httpx.Response:
        """Send with auth and retries; a 2xx answer or an exception from the error tree."""
        if params:
            # Spaces as %20, not the form encoding's "+": OData servers differ on reading "+".
            query = urlencode(params, quote_via=quote, safe=_QUERY_SAFE)
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        all_headers = dict(_READ_HEADERS) if method == "GET" else {}
        if headers:
            all_headers.update(headers)

        async def prepare(force_refresh: bool) -> tuple[str, Mapping[str, str]]:
            token = await self._tokens.token(force_refresh=force_refresh)
            all_headers["Authorization"] = f"Bearer {token}"
            self._count(method, url)
            return url, all_headers

        def error_for(response: httpx.Response, sent_to: str) -> CrmsyncError:
            return error_from_response(
                response.status_code,
                response.headers,
                response.content,
                method=method,
                url=str(response.request.url),
                table=table,
                record_id=record_id,
                record_operation=record_operation,
            )

        return await self._send(
            method,
            content,
            prepare=prepare,
            error_for=error_for,
            refused=f"access token refused by {self._origin}: refreshing it once",
        )

    def server_time(self) -> datetime | None:
        """The organisation's current time from the ``Date`` of the latest answer; ``None``
        until an answer carried one."""
        return self._server_time.now()

    def _observe(self, response: httpx.Response) -> None:
        self._server_time.observe(response.headers)

    def backoff(self, attempt: int) -> float:
        """Delay before retry ``attempt`` (1-based): exponential, capped, with jitter in [½, 1]."""
        return self._retrier.backoff(attempt)

    async def _write(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any],
        headers: Mapping[str, str] | None,
        table: str | None,
        record_id: str | None,
    ) -> httpx.Response:
        all_headers = {"Content-Type": _JSON}
        if headers:
            all_headers.update(headers)
        return await self.request(
            method,
            path,
            headers=all_headers,
            content=orjson.dumps(body),
            table=table,
            record_id=record_id,
            record_operation=True,
        )

    def _count(self, method: str, url: str) -> None:
        if url == "$batch":
            self.counters.batches += 1
        elif method == "GET":
            self.counters.reads += 1
        else:
            self.counters.writes += 1
