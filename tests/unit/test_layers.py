"""The package's layering (docs/architecture.md) holds: import-linter checks the contracts that
pyproject.toml declares under [tool.importlinter]."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.api import read_configuration
from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

PYPROJECT = str(Path(__file__).parents[2] / "pyproject.toml")


def contracts() -> dict[str, dict[str, object]]:
    """The declared contracts by id."""
    options = read_configuration(PYPROJECT)["contracts_options"]
    return {str(contract["id"]): contract for contract in options}


def test_the_rules_are_declared() -> None:
    declared = {
        (str(c["type"]), tuple(c.get("source_modules", c.get("protected_modules", ()))))
        for c in contracts().values()
    }
    assert declared >= {
        ("forbidden", ("crmsync.store", "crmsync.queue")),
        ("forbidden", ("crmsync.connectors",)),
        ("protected", ("crmsync.emulators",)),
    }
    faces = contracts()["faces"]
    assert {"crmsync.sync", "crmsync.workflows", "crmsync.store"} <= set(faces["source_modules"])
    assert {"crmsync.api", "crmsync.cli", "crmsync.console"} <= set(faces["forbidden_modules"])


@pytest.mark.parametrize("contract", sorted(contracts()))
def test_contract_is_kept(contract: str) -> None:
    # On failure, import-linter's report (captured above) names each import that breaks it.
    status = lint_imports(PYPROJECT, limit_to_contracts=(contract,), no_cache=True, no_logo=True)
    assert status == EXIT_STATUS_SUCCESS
