"""Where each value of a YAML document is: path → line, from PyYAML's node tree.

PyYAML's ``compose`` gives the node tree with the start mark of every node; walking it once maps
each path (``("inbound", "mappings", 1, "fields")``) to its line and column. The same walk finds
duplicate keys, which ``safe_load`` would silently resolve to the last one.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from crmsync.config.errors import ConfigIssue, Loc

__all__ = [
    "MAX_DEPTH",
    "MAX_VALUES",
    "DocumentTooDeep",
    "DocumentTooLarge",
    "Positions",
    "compose_positions",
]

#: The most values a configuration may hold once aliases are expanded: a guard against
#: "billion laughs" documents, whose aliases expand exponentially.
MAX_VALUES = 200_000
#: The deepest nesting of mappings and lists a configuration may have (its own is under 10):
#: PyYAML's composer and pydantic recurse once per level and would overflow Python's stack.
MAX_DEPTH = 100


class DocumentTooLarge(ValueError):
    """The document holds more than :data:`MAX_VALUES` values (aliases expanded)."""


class DocumentTooDeep(DocumentTooLarge):
    """The document nests mappings and lists more than :data:`MAX_DEPTH` levels deep, first at
    ``line`` and ``column`` (1-based)."""

    def __init__(self, line: int, column: int) -> None:
        super().__init__(
            f"the file is nested too deeply at line {line}: more than {MAX_DEPTH} levels of "
            "mappings and lists"
        )
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class Positions:
    """Line and column (1-based) of every path of a document."""

    marks: dict[Loc, tuple[int, int]]

    def find(self, loc: Loc) -> tuple[int, int] | None:
        """The position of ``loc``, or of its nearest ancestor present in the document."""
        for end in range(len(loc), -1, -1):
            found = self.marks.get(loc[:end])
            if found is not None:
                return found
        return None


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _check_depth(text: str) -> None:
    """Raise :class:`DocumentTooDeep` at the first value nested deeper than :data:`MAX_DEPTH`.

    PyYAML's parser yields events without recursing, unlike its composer: counting the opened
    collections on the events finds the depth before anything recurses.
    """
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
                raise DocumentTooDeep(line, column)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def compose_positions(text: str) -> tuple[Positions, list[ConfigIssue]]:
    """Positions of ``text``'s values and the duplicate keys found (as issues).

    Raises :class:`yaml.YAMLError` when ``text`` is not YAML, :class:`DocumentTooDeep` when it
    nests deeper than :data:`MAX_DEPTH` and :class:`DocumentTooLarge` when it expands to more
    values than a configuration can sensibly hold.
    """
    _check_depth(text)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    marks: dict[Loc, tuple[int, int]] = {}
    issues: list[ConfigIssue] = []
    if root is None:
        return Positions(marks), issues
    stack: list[tuple[Loc, yaml.Node]] = [((), root)]
    count = 0
    while stack:
        loc, node = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise DocumentTooLarge(
                f"the file holds more than {MAX_VALUES} values (aliases expanded)"
            )
        if loc not in marks:
            marks[loc] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            seen: set[object] = set()
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    continue
                child = (*loc, key)
                if key in seen:
                    line, column = _mark(key_node)
                    issues.append(
                        ConfigIssue(
                            child,
                            f"key '{key}' is given twice",
                            line=line,
                            column=column,
                        )
                    )
                    continue
                seen.add(key)
                marks[child] = _mark(key_node)
                stack.append((child, value_node))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                stack.append(((*loc, index), item))
    return Positions(marks), issues
