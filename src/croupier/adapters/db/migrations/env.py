"""Alembic environment: runs migrations on the connection croupier.adapters.db.migrate gives."""

from __future__ import annotations

from alembic import context

from croupier.adapters.db.schema import metadata

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
