"""'Did you mean …?' hints for unknown names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from crmsync.store.names import snake_case

__all__ = ["did_you_mean"]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'email'?)"`` for the closest candidate, or ``""``."""
    pool = list(candidates)
    if snake_case(name) in pool and snake_case(name) != name:
        return f" (did you mean '{snake_case(name)}'?)"
    folded = {c.lower(): c for c in pool}
    if name.lower() in folded and folded[name.lower()] != name:
        return f" (did you mean '{folded[name.lower()]}'?)"
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
