"""The Salesforce connector: OAuth sessions, a raw REST client, SOQL, reader and writer."""

from crmsync.connectors.salesforce.auth import (
    OAuthSessionProvider,
    Session,
    SessionProvider,
    StaticSessionProvider,
)
from crmsync.connectors.salesforce.client import CallCounters, SalesforceClient
from crmsync.connectors.salesforce.config import SalesforceConnectionConfig, SalesforceFlow
from crmsync.connectors.salesforce.connector import SalesforceConnector
from crmsync.connectors.salesforce.cursor import ChangeCursor
from crmsync.connectors.salesforce.errors import ApiBudgetExceeded, ApiLimitExceeded

__all__ = [
    "ApiBudgetExceeded",
    "ApiLimitExceeded",
    "CallCounters",
    "ChangeCursor",
    "OAuthSessionProvider",
    "SalesforceClient",
    "SalesforceConnectionConfig",
    "SalesforceConnector",
    "SalesforceFlow",
    "Session",
    "SessionProvider",
    "StaticSessionProvider",
]
