from __future__ import annotations

import crmsync.events as events


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(events).items()
        if not name.startswith("_") and not isinstance(value, type(events))
    }
    assert set(events.__all__) == public
