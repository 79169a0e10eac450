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
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    else:
        config.attributes["connection"] = bind
        command.upgrade(config, "head")


@cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()
