"""Alembic environment of the ledger: always run programmatically by ``serving.ledger.migrate``
on an open connection, never from an ``alembic.ini`` (there is none to keep in step)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    # Its own version table: the ledger may share a PostgreSQL database with MLflow,
    # whose Alembic history lives in the default ``alembic_version``.
    version_table="ledger_alembic_version",
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Two processes opening a fresh ledger at once: one migrates, the other waits.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(774101)")
    context.run_migrations()
