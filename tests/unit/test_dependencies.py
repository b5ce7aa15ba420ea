"""Every third-party module the crmsync package imports at run time comes from a distribution
that pyproject.toml declares in [project.dependencies] (not only in an extra such as ``dev``)."""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "src" / "crmsync"


def declared() -> set[str]:
    """The canonical names of the distributions crmsync needs at run time."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {canonicalize_name(Requirement(text).name) for text in project["dependencies"]}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """The top-level module and line of each absolute import under ``tree``, the body of
    ``if TYPE_CHECKING:`` left out (the type checker's alone)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node.module.split(".")[0], node.lineno
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.orelse:
                yield from runtime_imports(ast.Module(body=[statement], type_ignores=[]))
        else:
            yield from runtime_imports(node)


def third_party_imports() -> Iterator[tuple[str, str]]:
    """``(module, where)`` for each import of a module neither crmsync's nor the standard
    library's."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for module, line in runtime_imports(tree):
            if module not in sys.stdlib_module_names and module not in ("crmsync", "__future__"):
                yield module, f"{path.relative_to(ROOT)}:{line}"


def test_the_walk_sees_lazy_imports_and_skips_type_checking_ones() -> None:
    tree = ast.parse(
        "import a.b\nfrom c import d\nfrom . import e\n"
        "if TYPE_CHECKING:\n    import f\nelse:\n    import g\n"
        "def h():\n    import i\n"
    )
    assert [module for module, _ in runtime_imports(tree)] == ["a", "c", "g", "i"]


def test_every_runtime_import_is_a_declared_dependency() -> None:
    providers = packages_distributions()
    needed = declared()
    undeclared = sorted(
        f"{where}: {module} (from {', '.join(providers.get(module, ['nothing installed']))})"
        for module, where in third_party_imports()
        if not needed & {canonicalize_name(name) for name in providers.get(module, [])}
    )
    assert not undeclared, "imported at run time but not in [project.dependencies]:\n" + "\n".join(
        undeclared
    )


@pytest.mark.parametrize("module", ["requests", "pydantic_core"])
def test_modules_only_installed_through_others_are_not_imported_at_run_time(module: str) -> None:
    # requests came with MSAL and pydantic_core with pydantic: importing them directly would
    # rely on another package's choices (the MSAL client talks through an httpx client).
    assert module not in {name for name, _ in third_party_imports()}
