"""The change queue on NATS JetStream: several processes, on several machines, share its work.

Subjects, stream and consumers are described in :mod:`crmsync.queue.nats_stream`. In short: one
file-stored work-queue stream; a message of ``N`` changes of mapping ``m`` is published on
``<stream>.changes.m.N``; each mapping has one durable pull consumer that every process uses.

- **publish** waits for the stream's acknowledgement of every message (it is stored on disk, and
  on a majority of the replicas in a cluster). Each message carries its id as ``Nats-Msg-Id``,
  so that a publish tried again after a lost acknowledgement is stored once.
- **fetch(mapping)** pulls from that mapping's consumer; **fetch()** pulls from the consumers of
  the mappings that have messages (asked of the server), in turn, starting with a different one
  each call, and polls every ``poll_seconds`` while it waits (a publish through the same object
  wakes it at once). ``attempt`` is JetStream's delivery count.
- **ack / nack** are sent as requests and wait for the server's answer. JetStream acknowledges by
  stream sequence: a late ack of an expired delivery would remove the message its new consumer is
  working on. So a delivery older than the ack wait (less a small margin) is no longer
  acknowledged from here; its message comes back, which at-least-once delivery allows.
- **Dead letters**: JetStream's own ``max_deliver`` is not used (a message past it would stay in
  the work queue, never delivered). This client sets a message aside itself: at a nack of its
  last delivery (with the nack's reason), or at the next fetch after its last delivery expired.
  The payload is republished on ``<stream>.dead.<mapping>`` with the reason and the attempts in
  headers, then the original is acknowledged. An undecodable payload is set aside at once.
- **backlog** is the server's per-subject message count of ``<stream>.changes.<mapping>.*``, each
  subject's count multiplied by the change count the subject names: one request, whose answer
  has one entry per distinct chunk size; no message is read. Acknowledged messages are gone
  (work queue), so it counts exactly the waiting and in-flight changes.
- **While the server is away** the client reconnects on its own; a call waits for the
  connection to come back and is tried again (every call is idempotent) for up to
  ``outage_seconds``, then raises :class:`QueueUnavailableError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from crmsync.queue.base import (
    ChangeMessage,
    DeadLetter,
    Delivery,
    decode_changes,
    encode_changes,
)
from crmsync.queue.errors import QueueClosedError, QueueError, QueueUnavailableError
from crmsync.queue.nats_connection import NatsConnection, connect
from crmsync.queue.nats_stream import (
    StreamSettings,
    changes_filter,
    changes_subject,
    check_stream,
    check_token,
    consumer_name,
    dead_filter,
    dead_subject,
)

__all__ = ["NatsQueue"]

_T = TypeVar("_T")
MSG_ID = "Nats-Msg-Id"
SNAPSHOT = "Crmsync-Snapshot"
MESSAGE_ID = "Crmsync-Message-Id"
REASON = "Crmsync-Reason"
ATTEMPTS = "Crmsync-Attempts"
#: Failures worth waiting out: the server is away, restarting, or JetStream is not ready yet.
_UNAVAILABLE = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.errors.ConnectionReconnectingError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,
)
#: Messages published at once by one call.
_PUBLISH_WINDOW = 64
_REASON_CHARS = 1000
_PRINTABLE = "".join(chr(c) for c in range(32, 127) if chr(c) != "%")


class NatsQueue:
    """A :class:`~crmsync.queue.base.ChangeQueue` on the JetStream stream ``stream``.

    The stream must exist (:func:`~crmsync.queue.nats_stream.create_stream`); the connection is
    made at the first call. ``ack_wait_seconds`` and ``max_deliver`` mean what they mean for
    :class:`~crmsync.queue.sqlite.SQLiteQueue`; the ack wait is set on the mapping's shared
    consumer (the last process to open it sets it). ``request_timeout_seconds`` bounds each
    request to the server, ``outage_seconds`` how long a call waits for a lost server.
    """

    def __init__(
        self,
        connection: NatsConnection,
        stream: str,
        *,
        ack_wait_seconds: float = 60.0,
        max_deliver: int = 20,
        poll_seconds: float = 0.1,
        request_timeout_seconds: float = 5.0,
        outage_seconds: float = 30.0,
    ) -> None:
        if ack_wait_seconds <= 0:
            raise ValueError("ack_wait_seconds must be positive")
        if max_deliver < 1:
            raise ValueError("max_deliver must be at least 1")
        self.connection = connection
        self.stream = StreamSettings(stream).name
        self.ack_wait_seconds = ack_wait_seconds
        self.max_deliver = max_deliver
        self._poll_seconds = poll_seconds
        self._timeout = request_timeout_seconds
        self._outage_seconds = outage_seconds
        # Acks are sent only while the server's ack wait surely runs (see the module's notes).
        self._ack_margin = min(1.0, ack_wait_seconds / 10)
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._opening = asyncio.Lock()
        self._consumers: set[str] = set()
        self._published = asyncio.Event()
        self._turn = 0
        self._closed = False

    # -- plumbing -------------------------------------------------------------------------------

    async def _open(self) -> tuple[Client, JetStreamContext]:
        if self._closed:
            raise QueueClosedError(f"queue on NATS stream '{self.stream}' is closed")
        async with self._opening:
            if self._client is None or self._js is None:
                client = await connect(self.connection)
                js = client.jetstream(timeout=self._timeout)
                try:
                    problem = await check_stream(js, StreamSettings(self.stream))
                except _UNAVAILABLE as exc:
                    await client.close()
                    raise QueueUnavailableError(f"NATS JetStream does not answer: {exc}") from None
                if problem is not None:
                    await client.close()
                    raise QueueError(problem)
                self._client, self._js = client, js
            return self._client, self._js

    async def _call(self, doing: str, action: Callable[[], Awaitable[_T]]) -> _T:
        """``action()``, tried again while the server is away, for up to ``outage_seconds``."""
        deadline = time.monotonic() + self._outage_seconds
        while True:
            try:
                await self._open()
            except QueueUnavailableError:
                # (A server just started again may take a while to serve its streams.)
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.2)
                continue
            try:
                return await action()
            except nats.errors.ConnectionClosedError:
                if self._closed:
                    raise QueueClosedError(
                        f"queue on NATS stream '{self.stream}' is closed"
                    ) from None
                raise
            except _UNAVAILABLE as exc:
                if time.monotonic() >= deadline:
                    raise QueueUnavailableError(
                        f"NATS at {', '.join(self.connection.servers)} did not answer for "
                        f"{self._outage_seconds:g} s while {doing}: {exc or type(exc).__name__}"
                    ) from None
                await asyncio.sleep(0.2)
            except nats.js.errors.APIError as exc:
                raise QueueError(f"NATS JetStream refused {doing}: {exc.description}") from None

    # -- ChangeQueue ----------------------------------------------------------------------------

    async def publish(self, messages: Sequence[ChangeMessage]) -> list[str]:
        if not messages:
            return []
        payloads = [encode_changes(message.mapping, message.changes) for message in messages]
        for message in messages:
            check_token(message.mapping, "mapping")
        client, js = await self._open()
        for message, payload in zip(messages, payloads, strict=True):
            if len(payload) > client.max_payload:
                raise QueueError(
                    f"mapping '{message.mapping}': a message of {message.change_count} changes "
                    f"is {len(payload):,} bytes, more than the NATS server's max_payload "
                    f"({client.max_payload:,}): raise max_payload or publish smaller chunks"
                )
        ids = [uuid.uuid4().hex for _ in messages]

        async def send(index: int) -> None:
            message = messages[index]
            headers = {MSG_ID: ids[index]}
            if message.snapshot is not None:
                headers[SNAPSHOT] = message.snapshot
            subject = changes_subject(self.stream, message.mapping, message.change_count)
            await js.publish(subject, payloads[index], headers=headers, timeout=self._timeout)

        async def send_all() -> None:
            # Tried again whole: the stream stores a message id once (duplicate window).
            for start in range(0, len(messages), _PUBLISH_WINDOW):
                window = range(start, min(start + _PUBLISH_WINDOW, len(messages)))
                await asyncio.gather(*(send(index) for index in window))

        await self._call("publishing", send_all)
        self._published.set()
        return ids

    async def fetch(
        self, mapping: str | None = None, *, max_messages: int = 10, wait_seconds: float = 0.0
    ) -> list[Delivery]:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        if mapping is not None:
            check_token(mapping, "mapping")
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while True:
            self._published.clear()
            deliveries = await self._call(
                "fetching", lambda: self._fetch_now(mapping, max_messages)
            )
            remaining = deadline - time.monotonic()
            if deliveries or remaining <= 0:
                return deliveries
            if mapping is not None:
                # The server holds the request and answers at once when a message comes.
                deliveries = await self._call(
                    "fetching", functools.partial(self._take, mapping, 1, wait_seconds=remaining)
                )
                if deliveries and max_messages > 1:
                    more = await self._call(
                        "fetching", lambda: self._take(mapping, max_messages - 1)
                    )
                    deliveries += more
                if deliveries:
                    return deliveries
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._published.wait(), timeout=min(self._poll_seconds, remaining)
                )

    async def _fetch_now(self, mapping: str | None, max_messages: int) -> list[Delivery]:
        if mapping is not None:
            return await self._take(mapping, max_messages)
        counts = await self._subject_counts(changes_filter(self.stream, None))
        names = sorted({subject.split(".")[2] for subject in counts})
        if not names:
            return []
        self._turn = (self._turn + 1) % len(names)
        deliveries: list[Delivery] = []
        for name in names[self._turn :] + names[: self._turn]:
            deliveries += await self._take(name, max_messages - len(deliveries))
            if len(deliveries) >= max_messages:
                break
        return deliveries

    async def _take(
        self, mapping: str, batch: int, *, wait_seconds: float | None = None
    ) -> list[Delivery]:
        """Up to ``batch`` deliveries of ``mapping``: those available now or, with
        ``wait_seconds``, the first to come within that time."""
        started = time.monotonic()
        messages = await self._pull(mapping, batch, wait_seconds)
        expires = started + self.ack_wait_seconds - self._ack_margin
        deliveries = []
        for msg in messages:
            delivery = await self._accept(msg, expires)
            if delivery is not None:
                deliveries.append(delivery)
        return deliveries

    async def _consumer(self, mapping: str) -> str:
        """The durable consumer of ``mapping``, made (or its ack wait set) once per queue."""
        name = consumer_name(mapping)
        if mapping not in self._consumers:
            _, js = await self._open()
            config = api.ConsumerConfig(
                durable_name=name,
                description=f"crmsync writers of mapping {mapping}",
                filter_subject=changes_filter(self.stream, mapping),
                deliver_policy=api.DeliverPolicy.ALL,
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait_seconds,
                max_deliver=-1,
            )
            await js.add_consumer(self.stream, config)
            self._consumers.add(mapping)
        return name

    async def _pull(self, mapping: str, batch: int, wait_seconds: float | None) -> list[Msg]:
        """One pull request: the messages the server sends until it says it is done."""
        consumer = await self._consumer(mapping)
        client, _ = await self._open()
        request: dict[str, Any] = {"batch": batch}
        if wait_seconds is None:
            request["no_wait"] = True
        else:
            request["expires"] = int(wait_seconds * 1e9)
        inbox = client.new_inbox()
        subscription = await client.subscribe(inbox)
        limit = time.monotonic() + (wait_seconds or 0.0) + self._timeout
        messages: list[Msg] = []
        answered = False
        try:
            await client.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{consumer}",
                orjson.dumps(request),
                reply=inbox,
            )
            while len(messages) < batch:
                remaining = limit - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    msg = await subscription.next_msg(timeout=remaining)
                except nats.errors.TimeoutError:
                    break
                answered = True
                status = (msg.headers or {}).get("Status") if not msg.data else None
                if status is None:
                    messages.append(msg)
                elif status != "100":  # 100: a heartbeat
                    if status == "409" or status == "503":
                        # The consumer was deleted, or is not there: made again next time.
                        self._consumers.discard(mapping)
                    break
        finally:
            await subscription.unsubscribe()
        if not answered:
            # Not even a status: after a server restart that lost the consumer's state, pulls of
            # it go unanswered. It is declared again (the same durable: a no-op when it is there).
            self._consumers.discard(mapping)
            raise nats.errors.TimeoutError
        return messages

    async def _accept(self, msg: Msg, expires: float) -> Delivery | None:
        """``msg`` as a delivery; ``None`` when it was set aside as a dead letter."""
        headers = msg.headers or {}
        metadata = msg.metadata
        mapping = msg.subject.split(".")[2]
        message_id = headers.get(MSG_ID) or f"{self.stream}-{metadata.sequence.stream}"
        stored = ChangeMessage(mapping, (), headers.get(SNAPSHOT), message_id)
        attempt = metadata.num_delivered
        if attempt > self.max_deliver:
            reason = f"not acknowledged after {attempt - 1} deliveries"
            await self._bury(msg.reply, msg.data, stored, reason, attempt - 1)
            return None
        try:
            changes = decode_changes(msg.data)
        except QueueError as exc:
            await self._bury(msg.reply, msg.data, stored, exc.message, attempt)
            return None
        message = ChangeMessage(mapping, changes, stored.snapshot, message_id)
        return Delivery(message, attempt, f"{msg.reply}|{expires:.6f}")

    async def _bury(
        self, reply: str, payload: bytes, message: ChangeMessage, reason: str, attempts: int
    ) -> None:
        """Republish ``payload`` (of ``message``, whose changes are not used) as a dead letter,
        then acknowledge the original (a crash between the two buries it again, and the dead
        letter's id makes the second one a duplicate)."""
        client, js = await self._open()
        headers = {
            MSG_ID: f"{message.message_id}.dead",
            MESSAGE_ID: message.message_id,
            # Header values are ASCII on one line: anything else is percent-encoded.
            REASON: quote(" ".join(reason.split())[:_REASON_CHARS] or "no reason", safe=_PRINTABLE),
            ATTEMPTS: str(attempts),
        }
        if message.snapshot is not None:
            headers[SNAPSHOT] = message.snapshot
        subject = dead_subject(self.stream, message.mapping)
        await js.publish(subject, payload, headers=headers, timeout=self._timeout)
        await client.request(reply, b"+ACK", timeout=self._timeout)

    def _live(self, deliveries: Sequence[Delivery]) -> list[tuple[str, Delivery]]:
        """(ack subject, delivery) of each delivery this queue may still answer: tokens it did
        not issue, and deliveries whose ack wait may have ended, are left out."""
        now = time.monotonic()
        prefix = "$JS.ACK."
        out = []
        for delivery in deliveries:
            reply, _, expires = delivery.token.rpartition("|")
            if not reply.startswith(prefix) or f".{self.stream}." not in reply:
                continue
            try:
                if float(expires) > now:
                    out.append((reply, delivery))
            except ValueError:
                continue
        return out

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if not self._live(deliveries):
            return

        async def send() -> None:
            client, _ = await self._open()
            await asyncio.gather(
                *(
                    client.request(reply, b"+ACK", timeout=self._timeout)
                    for reply, _ in self._live(deliveries)
                )
            )

        await self._call("acknowledging", send)

    async def nack(
        self,
        deliveries: Sequence[Delivery],
        *,
        delay_seconds: float = 0.0,
        reason: str | None = None,
    ) -> None:
        if not self._live(deliveries):
            return
        answer = b"-NAK"
        if delay_seconds > 0:
            answer += b" " + orjson.dumps({"delay": int(delay_seconds * 1e9)})

        async def give_back(reply: str, delivery: Delivery) -> None:
            if delivery.attempt < self.max_deliver:
                client, _ = await self._open()
                await client.request(reply, answer, timeout=self._timeout)
                return
            message = delivery.message
            payload = encode_changes(message.mapping, message.changes)
            why = reason or f"not acknowledged after {delivery.attempt} deliveries"
            await self._bury(reply, payload, message, why, delivery.attempt)

        async def send() -> None:
            await asyncio.gather(*(give_back(*live) for live in self._live(deliveries)))

        await self._call("giving messages back", send)
        if delay_seconds <= 0:
            self._published.set()

    async def _subject_counts(self, subjects: str) -> dict[str, int]:
        """Messages per subject matching the filter ``subjects``, as the server counts them."""
        _, js = await self._open()
        info = await js.stream_info(self.stream, subjects_filter=subjects)
        return dict(info.state.subjects or {})

    async def backlog(self, mapping: str | None = None) -> int:
        if mapping is not None:
            check_token(mapping, "mapping")
        counts = await self._call(
            "counting the backlog",
            lambda: self._subject_counts(changes_filter(self.stream, mapping)),
        )
        total = 0
        for subject, messages in counts.items():
            size = subject.rpartition(".")[2]
            if size.isdigit():
                total += int(size) * messages
        return total

    async def dead_letter_count(self, mapping: str | None = None) -> int:
        if mapping is not None:
            check_token(mapping, "mapping")
        counts = await self._call(
            "counting dead letters",
            lambda: self._subject_counts(dead_filter(self.stream, mapping)),
        )
        return sum(counts.values())

    async def purge(self, mapping: str) -> int:
        check_token(mapping, "mapping")

        async def purge() -> int:
            client, _ = await self._open()
            answer = await client.request(
                f"$JS.API.STREAM.PURGE.{self.stream}",
                orjson.dumps({"filter": changes_filter(self.stream, mapping)}),
                timeout=self._timeout,
            )
            document = orjson.loads(answer.data)
            if "error" in document:
                error = document["error"].get("description", document["error"])
                raise QueueError(f"NATS JetStream refused purging '{mapping}': {error}")
            return int(document.get("purged", 0))

        return await self._call("purging", purge)

    async def dead_letters(
        self, mapping: str | None = None, *, limit: int = 100
    ) -> list[DeadLetter]:
        if mapping is not None:
            check_token(mapping, "mapping")
        return await self._call("listing dead letters", lambda: self._dead_letters(mapping, limit))

    async def _dead_letters(self, mapping: str | None, limit: int) -> list[DeadLetter]:
        _, js = await self._open()
        subjects = dead_filter(self.stream, mapping)
        out: list[DeadLetter] = []
        seq = 1
        while len(out) < limit:
            try:
                raw = await js.get_msg(self.stream, seq=seq, subject=subjects, next=True)
            except nats.js.errors.NotFoundError:
                break
            seq = (raw.seq or seq) + 1
            out.append(self._dead_letter(raw))
        return out

    def _dead_letter(self, raw: api.RawStreamMsg) -> DeadLetter:
        headers = raw.headers or {}
        try:
            changes = decode_changes(raw.data or b"")
        except QueueError:
            changes = []
        attempts = headers.get(ATTEMPTS, "0")
        message = ChangeMessage(
            (raw.subject or "").rpartition(".")[2],
            changes,
            headers.get(SNAPSHOT),
            headers.get(MESSAGE_ID, ""),
        )
        return DeadLetter(
            message,
            int(attempts) if attempts.isdigit() else 0,
            unquote(headers.get(REASON, "")),
            raw.time or datetime.now(UTC),
        )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._opening:
            client, self._client, self._js = self._client, None, None
        if client is not None:
            await client.close()

    async def __aenter__(self) -> NatsQueue:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()
