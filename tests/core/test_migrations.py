"""The migrations and the models describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from admitone.core.db import Base
from admitone.migrate import current_revision, head_revision


def test_migrated_database_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations disagree; run `make migration`: {diff}"


def test_database_is_at_head(engine: Engine) -> None:
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
