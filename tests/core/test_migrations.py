"""The migrations and the models describe the same schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, select, text
from sqlalchemy.orm import Session

from admitone.core.db import Base, make_engine
from admitone.migrate import alembic_config, current_revision, head_revision, upgrade
from tests.factories import make_event, make_order, make_organization, make_tier, make_user


def test_migrated_database_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations disagree; run `make migration`: {diff}"


def test_database_is_at_head(engine: Engine) -> None:
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()


def test_sqlite_upgrade_rebuilds_tables_that_hold_rows(tmp_path: Path) -> None:
    """SQLite changes a column by rebuilding its table; with orders and their items in the
    database, dropping the old `orders` table must not trip the foreign keys."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    # The rows are made with today's models in a scratch database, then copied into the
    # old schema column by column (the columns added since 0001 are left out).
    scratch = make_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
    Base.metadata.create_all(scratch)
    with Session(scratch) as session:
        owner = make_user(session)
        event = make_event(session, make_organization(session, owner))
        make_order(session, event, make_tier(session, event), quantity=2)
        session.commit()
    old = MetaData()
    old.reflect(engine)
    with scratch.connect() as source, engine.begin() as target:
        for table in Base.metadata.sorted_tables:
            rows = source.execute(select(table)).mappings().all()
            if rows and table.name in old.tables:
                into = old.tables[table.name]
                target.execute(
                    into.insert(), [{c.key: r[c.key] for c in into.columns} for r in rows]
                )
    scratch.dispose()
    upgrade(engine)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert conn.scalar(text("SELECT count(*) FROM orders")) == 1
        assert conn.scalar(text("SELECT quantity FROM order_items")) == 2
        assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        assert conn.scalar(text("PRAGMA foreign_keys")) == 1  # back on for the app
    engine.dispose()
