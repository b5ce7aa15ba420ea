"""The Dataverse connector: MSAL authentication, a raw Web API client, reader and writer."""

from crmsync.connectors.dataverse.auth import (
    AccessToken,
    MsalTokenProvider,
    StaticTokenProvider,
    TokenProvider,
)
from crmsync.connectors.dataverse.client import CallCounters, DataverseClient
from crmsync.connectors.dataverse.config import DataverseConnectionConfig
from crmsync.connectors.dataverse.connector import DataverseConnector
from crmsync.connectors.dataverse.reader import reconcile_deletions

__all__ = [
    "AccessToken",
    "CallCounters",
    "DataverseClient",
    "DataverseConnectionConfig",
    "DataverseConnector",
    "MsalTokenProvider",
    "StaticTokenProvider",
    "TokenProvider",
    "reconcile_deletions",
]
