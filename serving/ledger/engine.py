"""The ledger's database: one SQLAlchemy engine over the tables the migrations create.

Every write that must happen once is an insert keyed by a unique constraint with
``ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL both have it, :meth:`Database.insert_once`),
so a repeated tick, a second sensor run or a retry after a crash finds the row already there
instead of adding another.

Tables are reflected from the migrated database, so the migrations are the one definition of
the schema. The bookkeeping (``serving.ledger.bookkeeping``) and the journal
(``serving.ledger.journal``) share one :class:`Database`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from serving.ledger import migrate

UTC = timezone.utc


def naive(ts: datetime) -> datetime:
    """Stored form: naive UTC (SQLite keeps no zone)."""
    return ts.astimezone(UTC).replace(tzinfo=None)


def aware(ts: datetime | None) -> datetime | None:
    return None if ts is None else ts.replace(tzinfo=UTC)


def aware_row(row) -> dict:
    return {k: aware(v) if isinstance(v, datetime) else v for k, v in dict(row).items()}


def create_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # A sensor tick and a CLI command may write at once: wait for the lock, do not fail.
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_wal)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_wal(dbapi_connection, _record) -> None:
    """Write-ahead logging, still synced on every commit (``synchronous=FULL``): a commit is one
    fsync of the log instead of the rollback journal's several, the tail of a tick's latency
    on a busy disk; readers (``quant-assets positions``) no longer wait for a writing tick.
    Durability is unchanged: a committed order survives a crash or power loss."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


class Database:
    """The migrated ledger database: its engine, its reflected tables (``t``), and the two
    ways the bookkeeping and the journal use them (insert once, read rows)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        meta = sa.MetaData()
        meta.reflect(engine)
        self.t = meta.tables

    @classmethod
    def open(cls, url: str | None = None) -> "Database":
        """The database at ``url`` (default: ``serving.settings.ledger_url()``), migrated to head."""
        if url is None:
            # Imported here: the ledger (and its migrations) stays importable without Dagster,
            # whose resources serving.settings defines.
            from serving.settings import ledger_url

            url = ledger_url()
        engine = create_engine(url)
        migrate.upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def insert_once(self, conn: Connection, table: str, values: dict, keys: list[str]) -> bool:
        """Insert ``values`` unless a row with the same ``keys`` exists; True if inserted."""
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(self.t[table]).values(**values).on_conflict_do_nothing(index_elements=keys)
        return conn.execute(stmt).rowcount == 1

    def rows(self, table: str, *where, order_by=None, limit: int | None = None, **equal) -> list[dict]:
        """Rows of ``table`` matching ``where`` and each ``column=value`` not None, as dicts
        with aware UTC times; in primary-key order unless ``order_by`` says otherwise."""
        t = self.t[table]
        query = sa.select(t).where(*where, *(t.c[k] == v for k, v in equal.items() if v is not None))
        query = query.order_by(*(order_by or t.primary_key.columns))
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [aware_row(r) for r in conn.execute(query).mappings()]
