"""What both emulators put around their API: sign-in, the control endpoint, faults and the
``Date`` header."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.date_header import ClockDateHeader
from crmsync.emulators.common.faults import ErrorBody, FaultMiddleware, FaultPlan, control_routes
from crmsync.emulators.common.tokens import TokenIssuer

__all__ = ["emulator_app"]


def emulator_app(
    sign_in: Sequence[BaseRoute],
    api: Mount,
    *,
    faults: FaultPlan,
    clock: Clock,
    tokens: TokenIssuer,
    control: Sequence[BaseRoute],
    error_body: ErrorBody,
) -> ASGIApp:
    """The emulator's app: the ``sign_in`` routes, the control endpoint (under ``/_emulator``,
    with the emulator's own ``control`` routes) and ``api``, with ``faults`` applied (errors in
    the format of ``error_body``) and every answer dated by ``clock``."""
    routes = [
        *sign_in,
        Mount("/_emulator", routes=control_routes(faults, clock, tokens, control)),
        api,
    ]
    return ClockDateHeader(
        FaultMiddleware(
            Starlette(routes=routes),
            faults,
            error_body=error_body,
            expire_tokens=tokens.expire_all,
        ),
        clock,
    )
