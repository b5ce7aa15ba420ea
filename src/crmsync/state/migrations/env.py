"""Alembic's environment for crmsync's own tables: the migrations run on the connection, inside
the schema transaction, that :func:`crmsync.state.upgrade.upgrade_store` hands over."""

from __future__ import annotations

from alembic import context

from crmsync.state.upgrade import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("crmsync's migrations run through `crmsync store upgrade`")
# Batch operations: SQLite alters a table by rebuilding it.
context.configure(connection=connection, version_table=VERSION_TABLE, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
