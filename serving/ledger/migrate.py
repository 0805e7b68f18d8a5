"""Bring a ledger database to the newest schema with the package's own Alembic history.

Called by ``Database.open`` (``Ledger.open``) every time: on a new database it creates the tables, on an old one
it applies what is missing, on a current one it does nothing. Nobody writes DDL by hand.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "ledger_alembic_version"  # the same name env.py configures


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade(engine: Engine) -> None:
    if current(engine) == head():
        return  # the common case: no transaction, no lock
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
