"""Leaving list entries in error out of a file, and placing the rest's issues back.

When a required value inside an entry is wrong, the entry is left out (of a list nobody else
refers to: see :func:`~crmsync.config.keys.entry_to_leave_out`) so that the rest can still be
checked. The rest's entries then sit at smaller indices: :func:`placed_back` gives each of its
issues the path it has in the file, in its location and in the paths its message names
(``already used by inbound.mappings[1]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from crmsync.config.errors import ConfigIssue, Loc, format_loc
from crmsync.config.keys import value_at

__all__ = ["LeftOut", "leave_out", "placed_back"]

#: Per list (its path in the file), the indices of the entries left out, in ascending order.
LeftOut = Mapping[Loc, Sequence[int]]

#: A path as :func:`~crmsync.config.errors.format_loc` writes it, with at least one index.
_PATH = re.compile(r"(?<![\w.\]])[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*|\[\d+\])*\[\d+\]")
_PART = re.compile(r"([a-z_][a-z0-9_]*)|\[(\d+)\]")


def leave_out(data: Any, entries: Iterable[Loc]) -> LeftOut:
    """Delete the list ``entries`` from ``data`` in place (one inside another: the outer one);
    what was deleted, by list."""
    chosen = set(entries)
    outermost = [e for e in chosen if not any(e[:end] in chosen for end in range(1, len(e)))]
    left_out: dict[Loc, list[int]] = {}
    # Later entries first, so the indices of those still to delete stay true.
    for entry in sorted(outermost, reverse=True):
        items = value_at(entry[:-1], data)
        index = entry[-1]
        if isinstance(items, list) and isinstance(index, int):
            del items[index]
            left_out.setdefault(entry[:-1], []).insert(0, index)
    return left_out


def _origin(loc: Loc, left_out: LeftOut) -> Loc:
    """Where ``loc`` of the rest is in the file."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, int):
            for gone in left_out.get(tuple(out), ()):  # ascending: each shifts the next
                if gone <= part:
                    part += 1
        out.append(part)
    return tuple(out)


def _origin_text(match: re.Match[str], left_out: LeftOut) -> str:
    loc: Loc = tuple(name or int(index) for name, index in _PART.findall(match.group()))
    return format_loc(_origin(loc, left_out))


def placed_back(issue: ConfigIssue, left_out: LeftOut) -> ConfigIssue:
    """``issue`` of the rest, with the paths it has in the file."""
    if not left_out:
        return issue
    message = _PATH.sub(lambda match: _origin_text(match, left_out), issue.message)
    return replace(issue, loc=_origin(issue.loc, left_out), message=message)
