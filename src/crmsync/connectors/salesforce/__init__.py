"""The Salesforce connector: OAuth sessions, a raw REST client, SOQL, reader and writer."""

from crmsync.connectors.salesforce.auth import (
    OAuthSessionProvider,
    Session,
    SessionProvider,
    StaticSessionProvider,
)
from crmsync.connectors.salesforce.client import CallCounters, SalesforceClient
from crmsync.connectors.salesforce.config import (
    ClientCredentials,
    PasswordCredentials,
    SalesforceConnectionConfig,
)
from crmsync.connectors.salesforce.connector import SalesforceConnector
from crmsync.connectors.salesforce.errors import ApiBudgetExceeded, ApiLimitExceeded
from crmsync.connectors.salesforce.reader import ChangeCursor

__all__ = [
    "ApiBudgetExceeded",
    "ApiLimitExceeded",
    "CallCounters",
    "ChangeCursor",
    "ClientCredentials",
    "OAuthSessionProvider",
    "PasswordCredentials",
    "SalesforceClient",
    "SalesforceConnectionConfig",
    "SalesforceConnector",
    "Session",
    "SessionProvider",
    "StaticSessionProvider",
]
