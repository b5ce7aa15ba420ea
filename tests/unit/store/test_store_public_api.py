from __future__ import annotations

import crmsync.store as store


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(store).items()
        if not name.startswith("_") and not isinstance(value, type(store))
    }
    assert set(store.__all__) == public
    assert sorted(store.__all__) == sorted(set(store.__all__))
