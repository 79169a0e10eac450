"""Alembic environment: the metadata of every domain; SQLite uses batch mode."""

from alembic import context
from sqlalchemy import create_engine

from admitone.core.db import Base, normalize_url
from admitone.domains import load_models
from admitone.settings import load_settings

load_models()
target_metadata = Base.metadata
config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or load_settings().resolved_database_url
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        _run_with(conn)


def _run_with(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
