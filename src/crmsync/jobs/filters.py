"""Filter trees of the ``crm`` import step, and the rules a CRM query language can express.

A filter is a list of items (one *level*); every item but the first says how it joins the
previous one (``join: and`` / ``join: or``). An item is a condition (``field``, ``op``,
``value``) or a nested level (``group``). The rules (SPEC §4.1) are checked before anything runs
and each problem names the offending item by its path:

- one operator type per level (a level mixing ``and`` and ``or`` must be grouped explicitly);
- ``and not`` is not supported;
- the left side is one field of the remote object: not an expression, not a number, and not a
  path into another table (no joins);
- the right side is absent for null checks, else a literal (string, number, boolean, date) or a
  small safe expression (``{var: NAME}``, ``{days_ago: N}``); comparing with another field is a
  join and is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crmsync.config.errors import ConfigIssue, Loc
from crmsync.config.models import FilterOp

__all__ = [
    "NULL_CHECKS",
    "Condition",
    "FilterLevel",
    "check_filter",
    "parse_filter",
    "render_filter",
    "resolve_value",
]

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


NULL_CHECKS = frozenset({FilterOp.IS_EMPTY, FilterOp.IS_NOT_EMPTY})
TEXT_OPS = frozenset({FilterOp.CONTAINS, FilterOp.STARTS_WITH, FilterOp.ENDS_WITH})
_EXPRESSIONS = ("var", "days_ago")


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``; ``value`` is a literal or a safe expression (a one-key mapping)."""

    field: str
    op: FilterOp
    value: Any = None


@dataclass(frozen=True, slots=True)
class FilterLevel:
    """Items joined by one operator (``and`` or ``or``)."""

    join: str
    items: tuple[Condition | FilterLevel, ...]


def _issue(loc: Loc, message: str) -> ConfigIssue:
    return ConfigIssue(loc, message)


def _check_value(value: Any, loc: Loc) -> Iterator[ConfigIssue]:
    if value is None or isinstance(value, bool | int | float):
        return
    if isinstance(value, str):
        return
    if isinstance(value, date):  # YAML reads unquoted dates as dates
        return
    if isinstance(value, Mapping):
        keys = list(value)
        if keys == ["field"]:
            yield _issue(
                loc,
                "comparing with another field is a join, which CRM filters do not support: "
                "compare with a literal or a variable",
            )
            return
        if len(keys) != 1 or keys[0] not in _EXPRESSIONS:
            yield _issue(
                loc,
                "a value is a literal or one of {var: NAME}, {days_ago: N}; "
                f"got keys {', '.join(map(str, keys)) or '(none)'}",
            )
            return
        inner = value[keys[0]]
        if keys[0] == "var" and not (isinstance(inner, str) and _FIELD.match(inner)):
            yield _issue((*loc, "var"), "a variable name is letters, digits and underscores")
        if keys[0] == "days_ago" and (
            isinstance(inner, bool) or not isinstance(inner, int) or not 0 <= inner <= 36_500
        ):
            yield _issue((*loc, "days_ago"), "days_ago is a whole number from 0 to 36500")
        return
    yield _issue(loc, f"a value cannot be a {type(value).__name__} (lists and code are refused)")


def _check_condition(raw: Mapping[str, Any], loc: Loc) -> Iterator[ConfigIssue]:
    unknown = sorted(set(raw) - {"join", "field", "op", "value"})
    if unknown:
        yield _issue((*loc, unknown[0]), f"unknown key '{unknown[0]}' in a condition")
    field = raw.get("field")
    if field is None:
        yield _issue((*loc, "field"), "required, but missing")
    elif not isinstance(field, str):
        yield _issue(
            (*loc, "field"), "the left side must be a field of the remote object, not a number"
        )
    elif "." in field or "/" in field:
        yield _issue(
            (*loc, "field"),
            f"'{field}' reaches into another table: joins are not supported in CRM filters",
        )
    elif not _FIELD.match(field):
        yield _issue(
            (*loc, "field"),
            f"'{field}' is not a field name: the left side must be one field, not an expression",
        )
    op = raw.get("op")
    try:
        parsed = FilterOp(str(op))
    except ValueError:
        yield _issue(
            (*loc, "op"),
            f"unknown operator {op!r}: one of {', '.join(o.value for o in FilterOp)}",
        )
        return
    if parsed in NULL_CHECKS:
        if raw.get("value") is not None:
            yield _issue((*loc, "value"), f"'{parsed.value}' takes no value")
        return
    if "value" not in raw or raw["value"] is None:
        yield _issue((*loc, "value"), f"'{parsed.value}' needs a value (or use is_empty)")
        return
    yield from _check_value(raw["value"], (*loc, "value"))
    if parsed in TEXT_OPS and not isinstance(raw["value"], str | Mapping):
        yield _issue((*loc, "value"), f"'{parsed.value}' compares text: give a string")


def _check_level(items: Any, loc: Loc, depth: int) -> Iterator[ConfigIssue]:
    if not isinstance(items, list) or not items:
        yield _issue(loc, "a filter level is a non-empty list of conditions")
        return
    if depth > 8:
        yield _issue(loc, "filters nest at most 8 levels deep")
        return
    first_join: str | None = None
    for index, item in enumerate(items):
        here = (*loc, index)
        if not isinstance(item, Mapping):
            yield _issue(here, "a filter item is a mapping (a condition or a group)")
            continue
        join = item.get("join")
        if index == 0 and join is not None:
            yield _issue((*here, "join"), "the first item of a level joins nothing: remove 'join'")
        elif index > 0:
            normal = " ".join(str(join).lower().split()) if join is not None else None
            if normal is None:
                yield _issue((*here, "join"), "required after the first item: 'and' or 'or'")
            elif normal in ("and not", "and_not", "or not", "or_not"):
                yield _issue((*here, "join"), f"'{join}' is not supported by CRM filters")
            elif normal not in ("and", "or"):
                yield _issue((*here, "join"), f"unknown join {join!r}: 'and' or 'or'")
            elif first_join is None:
                first_join = normal
            elif normal != first_join:
                yield _issue(
                    (*here, "join"),
                    f"this level mixes '{first_join}' and '{normal}': one operator per level, "
                    "put the other conditions in a 'group'",
                )
        if "group" in item:
            extra = sorted(set(item) - {"join", "group"})
            if extra:
                yield _issue((*here, extra[0]), "a group holds only 'join' and 'group'")
            yield from _check_level(item["group"], (*here, "group"), depth + 1)
        else:
            yield from _check_condition(item, here)


def check_filter(raw: Any, loc: Loc = ()) -> list[ConfigIssue]:
    """Every rule broken by the filter ``raw`` (as read from YAML), each at its path."""
    if raw is None:
        return []
    return list(_check_level(raw, loc, 0))


def parse_filter(raw: Sequence[Mapping[str, Any]]) -> FilterLevel:
    """The tree of a filter that :func:`check_filter` accepted."""
    join = "and"
    items: list[Condition | FilterLevel] = []
    for index, item in enumerate(raw):
        if index == 1:
            join = " ".join(str(item["join"]).lower().split())
        if "group" in item:
            items.append(parse_filter(item["group"]))
        else:
            items.append(Condition(item["field"], FilterOp(item["op"]), item.get("value")))
    return FilterLevel(join, tuple(items))


def resolve_value(
    value: Any, variables: Mapping[str, str], now: datetime | None = None
) -> str | int | float | bool | date | datetime:
    """The literal a condition compares with, once expressions are evaluated.

    Strings that look like ISO dates or date-times become :class:`date` / aware
    :class:`datetime` values, so that each query language can write its own date literal.
    """
    if isinstance(value, Mapping):
        ((kind, inner),) = value.items()
        if kind == "var":
            if inner not in variables:
                raise KeyError(inner)
            return _typed(variables[inner])
        moment = (now or datetime.now(UTC)).replace(microsecond=0)
        return moment - timedelta(days=int(inner))
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return _typed(value)
    if isinstance(value, bool | int | float | date):
        return value
    raise TypeError(f"unexpected filter value {value!r}")


def _typed(text: str) -> str | date | datetime:
    if _DATETIME.match(text):
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    if _DATE.match(text):
        return date.fromisoformat(text)
    from crmsync.jobs.options import parse_option_date

    try:
        return parse_option_date(text)
    except ValueError:
        return text


def render_filter(
    level: FilterLevel,
    condition: Callable[[Condition, str], str],
    join: Callable[[str], str],
    where: str = "filter",
) -> str:
    """A filter tree as query text: ``condition(item, place)`` writes one condition in the
    target language (``place`` names it in errors, e.g. ``filter[1].group[0]``), ``join`` spells
    a level's operator; groups of more than one part are parenthesised."""
    parts = []
    for index, item in enumerate(level.items):
        here = f"{where}[{index}]"
        if isinstance(item, FilterLevel):
            parts.append(render_filter(item, condition, join, f"{here}.group"))
        else:
            parts.append(condition(item, here))
    joined = f" {join(level.join)} ".join(parts)
    return f"({joined})" if len(parts) > 1 else joined
