"""The ``Date`` header of every emulator answer, from the emulator's clock."""

from __future__ import annotations

from email.utils import format_datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmsync.emulators.common.clock import Clock

__all__ = ["ClockDateHeader"]


class ClockDateHeader:
    """Sends every answer's ``Date`` header from the emulator's clock, not the host's.

    Clients follow the server's time through ``Date`` (the connectors end delete-log and import
    windows there), so a test that moves the clock must see it in the header too. uvicorn adds
    its own ``Date`` unless told not to: :mod:`crmsync.emulators.common.server` reads
    :attr:`sends_date_header` and turns it off.
    """

    sends_date_header = True

    def __init__(self, app: ASGIApp, clock: Clock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = format_datetime(self.clock.now(), usegmt=True).encode("ascii")
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", date)]}
            await send(message)

        await self.app(scope, receive, send_with_date)
