"""The whole Dataverse emulator as one ASGI app: identity platform, control endpoint and Web API.

Layers, outermost first: the ``Date`` header from the emulator's clock, fault injection (every
path but ``/_emulator``), routing, and for the Web API the bearer check and service protection::

    ClockDateHeader
    └── FaultMiddleware
    └── Starlette
        ├── /{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/oauth2/v2.0/token
        ├── /_emulator/...                     control endpoint (no auth)
        └── /api/data/v9.2/...  ProtectionMiddleware → Web API
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.routing import Mount
from starlette.types import ASGIApp

from crmsync.emulators.common.app import emulator_app
from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.datafile import open_seeded
from crmsync.emulators.common.faults import FaultPlan
from crmsync.emulators.common.ratelimit import SlidingWindowLimiter
from crmsync.emulators.common.tokens import TokenIssuer
from crmsync.emulators.dataverse import webapi
from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
from crmsync.emulators.dataverse.errors import error_body
from crmsync.emulators.dataverse.oauth import oauth_routes, registered_certificate
from crmsync.emulators.dataverse.protection import ProtectionMiddleware
from crmsync.emulators.dataverse.seed import seed
from crmsync.emulators.dataverse.store import DataverseStore

__all__ = ["API_PREFIX", "DataverseEmulator", "create_emulator"]

#: Where the Web API is served; clients use ``{base_url}/api/data/v9.2``.
API_PREFIX = "/api/data/v9.2"


@dataclass(slots=True)
class DataverseEmulator:
    """A running emulator's parts: tests reach in to move the clock, add faults or read data."""

    settings: DataverseEmulatorSettings
    clock: Clock
    tokens: TokenIssuer
    faults: FaultPlan
    limiter: SlidingWindowLimiter
    store: DataverseStore
    app: ASGIApp

    def close(self) -> None:
        """Release the data store (flushes and closes its database)."""
        self.store.close()


def _fault_error_body(status: int) -> tuple[bytes, str]:
    return error_body(status)


def _open_store(settings: DataverseEmulatorSettings, clock: Clock) -> DataverseStore:
    """The emulator's store, seeded as ``settings`` say (a data file is seeded once, compact)."""
    counts = {"contacts": settings.seed_contacts, "accounts": settings.seed_accounts}
    return open_seeded(
        settings.data_file,
        counts,
        lambda path, bulk: DataverseStore.open(path, clock, bulk=bulk),
        lambda store, in_file: seed(store, **counts, render=not in_file),
    )


def create_emulator(
    settings: DataverseEmulatorSettings, *, clock: Clock | None = None
) -> DataverseEmulator:
    """Build an emulator from ``settings``: open (and seed) its store and compose its app."""
    clock = clock or Clock()
    tokens = TokenIssuer.from_settings(clock, settings)
    faults = FaultPlan()
    limiter = SlidingWindowLimiter(
        clock,
        requests=settings.rate_limit_requests,
        window_seconds=settings.rate_limit_window_seconds,
        execution_ms=settings.rate_limit_execution_ms,
        concurrent=settings.rate_limit_concurrent,
    )
    store = _open_store(settings, clock)
    try:
        api = webapi.create_webapi(store, settings, faults)
        extra = webapi.control_routes(store)
    except BaseException:
        store.close()
        raise
    app = emulator_app(
        oauth_routes(tokens, registered_certificate(settings.client_certificate)),
        Mount(API_PREFIX, app=ProtectionMiddleware(api, tokens, limiter)),
        faults=faults,
        clock=clock,
        tokens=tokens,
        control=extra,
        error_body=_fault_error_body,
    )
    return DataverseEmulator(settings, clock, tokens, faults, limiter, store, app)
