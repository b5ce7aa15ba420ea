"""The ``crmsync`` package's own names: importable, documented in docs/python.md, loaded lazily."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import crmsync

DOCS = Path(__file__).parents[2] / "docs" / "python.md"


def documented_names() -> list[str]:
    """The first column of the table under "## Public names" in docs/python.md."""
    section = DOCS.read_text(encoding="utf-8").split("## Public names", 1)[1].split("\n## ")[0]
    return re.findall(r"^\| `([A-Za-z_]\w*)` \|", section, flags=re.MULTILINE)


def test_the_documented_names_are_the_exported_names() -> None:
    names = documented_names()
    assert len(names) == len(set(names)), "a name is documented twice"
    assert sorted(names) == sorted(crmsync.__all__)
    assert sorted(crmsync._EXPORTS) == sorted(crmsync.__all__)  # what is loaded on first use


@pytest.mark.parametrize("name", crmsync.__all__)
def test_every_exported_name_is_importable(name: str) -> None:
    value = getattr(crmsync, name)
    assert value is not None
    assert name in dir(crmsync)


def test_star_import_gives_every_name() -> None:
    namespace: dict[str, object] = {}
    exec("from crmsync import *", namespace)  # noqa: S102 - the statement a user writes
    assert set(crmsync.__all__) <= namespace.keys()


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'InboundEngin'"):
        _ = crmsync.InboundEngin  # type: ignore[attr-defined]


def test_importing_the_package_loads_none_of_the_engine() -> None:
    heavy = ["crmsync.sync.engine", "crmsync.emulators.dataverse.app", "crmsync.jobs", "sqlalchemy"]
    code = f"import sys, crmsync; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
