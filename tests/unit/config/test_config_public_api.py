from __future__ import annotations

import crmsync.config as config


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(config).items()
        if not name.startswith("_") and not isinstance(value, type(config))
    }
    assert set(config.__all__) == public
