"""crmsync: keep a CRM and a marketing-campaign database in sync.

The names in ``__all__`` are the supported Python API (docs/python.md). Each is imported when
first used, so ``import crmsync`` (and the command line) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Every public name → (module, name there).
_EXPORTS: dict[str, tuple[str, str]] = {
    # configuration
    "Config": ("crmsync.config", "Config"),
    "ConfigError": ("crmsync.config", "ConfigError"),
    "ConfigIssue": ("crmsync.config", "ConfigIssue"),
    "ConfigReport": ("crmsync.config", "ConfigReport"),
    "check_config_file": ("crmsync.config", "check_config_file"),
    "check_config_text": ("crmsync.config", "check_config_text"),
    "load_config": ("crmsync.config", "load_config"),
    "load_config_text": ("crmsync.config", "load_config_text"),
    "starter_config": ("crmsync.config", "starter_config"),
    # the Campaign store
    "create_engine_for": ("crmsync.store", "create_engine_for"),
    # the sync and the workflows
    "EngineOptions": ("crmsync.sync.engine", "EngineOptions"),
    "InboundEngine": ("crmsync.sync.engine", "InboundEngine"),
    "RunSummary": ("crmsync.sync.engine", "RunSummary"),
    "ActiveConfig": ("crmsync.workflows", "ActiveConfig"),
    "open_active_config": ("crmsync.workflows", "open_active_config"),
    "run_side_by_side": ("crmsync.workflows", "run_side_by_side"),
    "standard_runs": ("crmsync.workflows", "standard_runs"),
    # jobs
    "ConnectorPool": ("crmsync.jobs", "ConnectorPool"),
    "JobRunner": ("crmsync.jobs", "JobRunner"),
    "JobStore": ("crmsync.jobs", "JobStore"),
    "load_job": ("crmsync.jobs", "load_job"),
    "load_job_text": ("crmsync.jobs", "load_job_text"),
    # marketing events
    "Event": ("crmsync.events", "Event"),
    "Unsubscribe": ("crmsync.events", "Unsubscribe"),
    "read_event_file": ("crmsync.events", "read_event_file"),
    "record_events": ("crmsync.events", "record_events"),
    # connectors
    "Connector": ("crmsync.connectors.base", "Connector"),
    "WriteOp": ("crmsync.connectors.base", "WriteOp"),
    "open_connector": ("crmsync.runtime.connectors", "open_connector"),
    "DataverseConnectionConfig": ("crmsync.connectors.dataverse", "DataverseConnectionConfig"),
    "DataverseConnector": ("crmsync.connectors.dataverse", "DataverseConnector"),
    "SalesforceConnectionConfig": ("crmsync.connectors.salesforce", "SalesforceConnectionConfig"),
    "SalesforceConnector": ("crmsync.connectors.salesforce", "SalesforceConnector"),
    # emulators
    "BackgroundServer": ("crmsync.emulators.common.server", "BackgroundServer"),
    "generate_tls": ("crmsync.emulators.common.tls", "generate"),
    "DataverseEmulatorSettings": (
        "crmsync.emulators.dataverse.config",
        "DataverseEmulatorSettings",
    ),
    "create_dataverse_emulator": ("crmsync.emulators.dataverse.app", "create_emulator"),
    "SalesforceEmulatorSettings": (
        "crmsync.emulators.salesforce.config",
        "SalesforceEmulatorSettings",
    ),
    "create_salesforce_emulator": ("crmsync.emulators.salesforce.app", "create_emulator"),
    # errors
    "AuthenticationError": ("crmsync.errors", "AuthenticationError"),
    "ConfigurationError": ("crmsync.errors", "ConfigurationError"),
    "CrmsyncError": ("crmsync.errors", "CrmsyncError"),
    "FatalError": ("crmsync.errors", "FatalError"),
    "TransientError": ("crmsync.errors", "TransientError"),
}

__all__ = [
    "ActiveConfig",
    "AuthenticationError",
    "BackgroundServer",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "ConfigReport",
    "ConfigurationError",
    "Connector",
    "ConnectorPool",
    "CrmsyncError",
    "DataverseConnectionConfig",
    "DataverseConnector",
    "DataverseEmulatorSettings",
    "EngineOptions",
    "Event",
    "FatalError",
    "InboundEngine",
    "JobRunner",
    "JobStore",
    "RunSummary",
    "SalesforceConnectionConfig",
    "SalesforceConnector",
    "SalesforceEmulatorSettings",
    "TransientError",
    "Unsubscribe",
    "WriteOp",
    "check_config_file",
    "check_config_text",
    "create_dataverse_emulator",
    "create_engine_for",
    "create_salesforce_emulator",
    "generate_tls",
    "load_config",
    "load_config_text",
    "load_job",
    "load_job_text",
    "open_active_config",
    "open_connector",
    "read_event_file",
    "record_events",
    "run_side_by_side",
    "standard_runs",
    "starter_config",
]


def __getattr__(name: str) -> Any:
    """The public name ``name``, imported on first use (PEP 562)."""
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'crmsync' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from crmsync.config import (
        Config,
        ConfigError,
        ConfigIssue,
        ConfigReport,
        check_config_file,
        check_config_text,
        load_config,
        load_config_text,
        starter_config,
    )
    from crmsync.connectors.base import Connector, WriteOp
    from crmsync.connectors.dataverse import DataverseConnectionConfig, DataverseConnector
    from crmsync.connectors.salesforce import SalesforceConnectionConfig, SalesforceConnector
    from crmsync.emulators.common.server import BackgroundServer
    from crmsync.emulators.common.tls import generate as generate_tls
    from crmsync.emulators.dataverse.app import create_emulator as create_dataverse_emulator
    from crmsync.emulators.dataverse.config import DataverseEmulatorSettings
    from crmsync.emulators.salesforce.app import create_emulator as create_salesforce_emulator
    from crmsync.emulators.salesforce.config import SalesforceEmulatorSettings
    from crmsync.errors import (
        AuthenticationError,
        ConfigurationError,
        CrmsyncError,
        FatalError,
        TransientError,
    )
    from crmsync.events import Event, Unsubscribe, read_event_file, record_events
    from crmsync.jobs import ConnectorPool, JobRunner, JobStore, load_job, load_job_text
    from crmsync.runtime.connectors import open_connector
    from crmsync.store import create_engine_for
    from crmsync.sync.engine import EngineOptions, InboundEngine, RunSummary
    from crmsync.workflows import (
        ActiveConfig,
        open_active_config,
        run_side_by_side,
        standard_runs,
    )
