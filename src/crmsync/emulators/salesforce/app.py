"""The whole Salesforce emulator as one ASGI app: token endpoint, control endpoint, REST API.

Layers, outermost first: the ``Date`` header from the emulator's clock, fault injection (every
path but ``/_emulator``), routing, and for the REST API the session gate (version, bearer token,
daily API budget)::

    ClockDateHeader
    └── FaultMiddleware
    └── Starlette
            ├── /services/oauth2/token
            ├── /_emulator/...                       control endpoint (no auth)
            └── /services/data/...   SessionGate → versions list, /v{version}/... resources
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp

from crmsync.emulators.common.app import emulator_app
from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.datafile import open_seeded
from crmsync.emulators.common.faults import FaultPlan
from crmsync.emulators.common.tokens import TokenIssuer
from crmsync.emulators.salesforce.collections import collection_routes
from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
from crmsync.emulators.salesforce.context import ApiContext
from crmsync.emulators.salesforce.control import control_routes as salesforce_control_routes
from crmsync.emulators.salesforce.describe import describe_routes
from crmsync.emulators.salesforce.errors import error_body
from crmsync.emulators.salesforce.limits import ApiUsage, limits_routes
from crmsync.emulators.salesforce.oauth import PasswordUser, SessionGate, oauth_routes
from crmsync.emulators.salesforce.query import QueryService
from crmsync.emulators.salesforce.query_routes import query_routes
from crmsync.emulators.salesforce.replication import replication_routes
from crmsync.emulators.salesforce.seed import seed
from crmsync.emulators.salesforce.sobjects import sobject_routes
from crmsync.emulators.salesforce.store import SalesforceStore
from crmsync.emulators.salesforce.writes import Writer

__all__ = ["SalesforceEmulator", "create_emulator"]


@dataclass(slots=True)
class SalesforceEmulator:
    """A running emulator's parts: tests reach in to move the clock, add faults or read data."""

    settings: SalesforceEmulatorSettings
    clock: Clock
    tokens: TokenIssuer
    faults: FaultPlan
    usage: ApiUsage
    store: SalesforceStore
    app: ASGIApp

    def close(self) -> None:
        """Release the data store (flushes and closes its database)."""
        self.store.close()


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown resources and methods, answered in Salesforce's error format."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    body, content_type = error_body(status)
    return Response(body, status, media_type=content_type)


def _open_store(settings: SalesforceEmulatorSettings, clock: Clock) -> SalesforceStore:
    """The emulator's store, seeded as ``settings`` say (a data file is seeded once)."""
    counts = {
        "contacts": settings.seed_contacts,
        "accounts": settings.seed_accounts,
        "subscriptions": settings.seed_subscriptions,
    }
    return open_seeded(
        settings.data_file,
        counts,
        lambda path, bulk: SalesforceStore.open(path, clock, bulk=bulk),
        lambda store, _in_file: seed(store, **counts),
    )


def create_emulator(
    settings: SalesforceEmulatorSettings, *, clock: Clock | None = None
) -> SalesforceEmulator:
    """Build an emulator from ``settings``: open (and seed) its store and compose its app."""
    clock = clock or Clock()
    tokens = TokenIssuer.from_settings(clock, settings)
    faults = FaultPlan()
    usage = ApiUsage(clock, settings.api_daily_limit)
    store = _open_store(settings, clock)
    ctx = ApiContext(
        settings,
        clock,
        store,
        Writer(store),
        QueryService(store, clock, settings.query_locator_idle_seconds),
        faults,
    )
    top, versioned = describe_routes(ctx)
    versioned += [
        *query_routes(ctx),
        *replication_routes(ctx),
        *limits_routes(usage),
        *collection_routes(ctx),
        *sobject_routes(ctx),
    ]
    data_api = SessionGate(
        Starlette(
            routes=[*top, Mount("/v{version}", routes=versioned)],
            exception_handlers={HTTPException: _http_error},
        ),
        tokens,
        usage,
        settings.api_version,
    )
    extra = salesforce_control_routes(store, usage)
    app = emulator_app(
        oauth_routes(tokens, clock, PasswordUser.from_settings(settings)),
        Mount("/services/data", app=data_api),
        faults=faults,
        clock=clock,
        tokens=tokens,
        control=extra,
        error_body=error_body,
    )
    return SalesforceEmulator(settings, clock, tokens, faults, usage, store, app)
