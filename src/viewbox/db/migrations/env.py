"""Alembic's environment for Viewbox's migrations.

Always run by `viewbox.db.schema_upgrade` with the connection (and transaction) it opened, never
from an `alembic.ini`: the caller decides about locking, backups and the one transaction.
"""

from alembic import context

from viewbox.db import schema

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=schema.metadata,
    render_as_batch=True,  # SQLite has no ALTER for most changes: batch mode copies the table
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
