"""Alembic glue: upgrade to head, and read the current and head revisions."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(bind: Engine | Connection) -> None:
    """Brings the database to head (idempotent)."""
    config = alembic_config()
    if isinstance(bind, Connection):
        config.attributes["connection"] = bind
        command.upgrade(config, "head")
        return
    with bind.connect() as conn:
        if conn.dialect.name != "sqlite":
            with conn.begin():
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
            return
        # SQLite migrations rebuild a table to change it (batch mode), and with foreign keys
        # on, dropping the old table of a parent with rows fails. Off for the migration (it
        # must be set outside a transaction), checked and back on afterwards.
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"migration left rows breaking foreign keys: {broken[:5]}")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


@cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()
