"""A configuration document without the keys that only repeat a default."""

from __future__ import annotations

import copy
from typing import Any

from crmsync.config.defaults import without_defaults


def document() -> dict[str, Any]:
    """A configuration as someone writes it, leaving every default out."""
    return {
        "connections": {
            "dynamics": {"kind": "dataverse", "url": "https://org.crm4.dynamics.com"}
            | {"tenant_id": "contoso", "client_id": "app", "client_secret_env": "SECRET"},
            "org": {"kind": "salesforce", "url": "https://org.my.salesforce.com"}
            | {"client_id": "app", "client_secret_file": "secret.txt"},
        },
        "inbound": {
            "mappings": [
                {"name": "people", "connection": "dynamics", "crm_table": "contact"}
                | {"resource": "profile", "primary_key": {"campaign": "external_id"}}
                | {
                    "fields": [
                        {"crm": "firstname", "campaign": "first_name"},
                        {"crm": "lastname", "campaign": "last_name", "apply_updates": False},
                    ]
                }
            ]
        },
    }


def test_keys_repeating_their_default_are_dropped_at_every_depth() -> None:
    written_out = copy.deepcopy(document())
    written_out |= {"version": 1, "queue": {"kind": "sqlite", "path": "crmsync-queue.db"}}
    written_out["connections"]["dynamics"]["timeout_seconds"] = 120  # an int for a float
    written_out["connections"]["org"]["api_version"] = "62.0"
    written_out["inbound"]["poll_interval_seconds"] = 1
    mapping = written_out["inbound"]["mappings"][0]
    mapping["fields"][0]["apply_updates"] = True
    mapping |= {"filters": {"combine": "and", "conditions": []}, "apply_deletes": True}
    written_out["outbound"] = {"events": dict.fromkeys(("send", "open", "click"), False)}
    written_out["outbound"]["batch_size"] = 200
    assert without_defaults(written_out) == document()


def test_other_values_are_kept_as_written() -> None:
    written = {
        "store": {"url": "sqlite:///relative/store.db"},
        "queue": {"path": "./queue.db"},
        "inbound": {"poll_interval_seconds": 2},
        "outbound": {"events": {"send": True, "open": False}},
    }
    assert without_defaults(written) == {
        "store": {"url": "sqlite:///relative/store.db"},
        "queue": {"path": "./queue.db"},
        "inbound": {"poll_interval_seconds": 2},
        "outbound": {"events": {"send": True}},
    }


def test_keys_the_models_do_not_know_are_kept() -> None:
    written = {"inbound": {"poll_interval_seconds": 1.0, "polling": 1.0}, "extra": [1]}
    assert without_defaults(written) == {"inbound": {"polling": 1.0}, "extra": [1]}
