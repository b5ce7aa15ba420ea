"""A configuration file with one resource, on a given store, for the publish tests."""

from __future__ import annotations

from pathlib import Path

CONFIG = """\
store:
  url: {url}
{schema}
resources:
  - name: subscription
    identifier: crm_id
    fields:
      - {{name: crm_id, type: string, length: 36}}
"""


def write_config(folder: Path, store_location: tuple[str, str | None]) -> Path:
    """``crmsync.yaml`` in ``folder``: one resource, on the store of ``store_location``."""
    url, schema = store_location
    config = folder / "crmsync.yaml"
    config.write_text(
        CONFIG.format(url=url, schema=f"  pg_schema: {schema}" if schema else ""), encoding="utf-8"
    )
    return config
