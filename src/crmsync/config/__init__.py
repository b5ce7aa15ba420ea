"""The configuration file: models, loading with located errors, checks, and the starter file."""

from crmsync.config.checks import check_secrets, static_issues
from crmsync.config.errors import ConfigError, ConfigIssue, format_loc
from crmsync.config.loader import (
    ConfigReport,
    check_config_file,
    check_config_text,
    load_config,
    load_config_text,
)
from crmsync.config.metadata_checks import validate_against_metadata
from crmsync.config.models import (
    Config,
    Connection,
    FieldMapping,
    FilterCondition,
    FilterOp,
    Filters,
    GuardrailsConfig,
    InboundConfig,
    InboundMapping,
    OptInOutConfig,
    OptInOutMapping,
    OutboundConfig,
    PrimaryKey,
    QueueConfig,
    Replacement,
    StoreConfig,
)
from crmsync.config.starter import STARTER_CONFIG, starter_config

__all__ = [
    "STARTER_CONFIG",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "ConfigReport",
    "Connection",
    "FieldMapping",
    "FilterCondition",
    "FilterOp",
    "Filters",
    "GuardrailsConfig",
    "InboundConfig",
    "InboundMapping",
    "OptInOutConfig",
    "OptInOutMapping",
    "OutboundConfig",
    "PrimaryKey",
    "QueueConfig",
    "Replacement",
    "StoreConfig",
    "check_config_file",
    "check_config_text",
    "check_secrets",
    "format_loc",
    "load_config",
    "load_config_text",
    "starter_config",
    "static_issues",
    "validate_against_metadata",
]
