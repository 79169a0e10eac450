"""releases from deployments: one release per deployment and the events received

The old `releases` table was a placeholder that nothing wrote (there was no ingest), so it is
replaced rather than altered.

Revision ID: releases_from_deployments
Revises: dfeea01d937d
Create Date: 2026-12-06 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import admitone.core.db

revision: str = "releases_from_deployments"
down_revision: str | None = "dfeea01d937d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = (
    "'INITIALIZING','QUEUED','WAITING','BUILDING','DEPLOYING','SUCCESS','FAILED','CRASHED',"
    "'COMPLETED','REMOVING','REMOVED','SKIPPED','SLEEPING','UNKNOWN'"
)
UTC = admitone.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.drop_table("releases")
    op.create_table(
        "releases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=7), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("status_at", UTC, nullable=False),
        sa.Column("service_id", sa.String(length=100), nullable=True),
        sa.Column("service_name", sa.String(length=200), nullable=True),
        sa.Column("environment_id", sa.String(length=100), nullable=True),
        sa.Column("environment_name", sa.String(length=200), nullable=True),
        sa.Column("project_id", sa.String(length=100), nullable=True),
        sa.Column("commit_sha", sa.String(length=64), nullable=True),
        sa.Column("branch", sa.String(length=255), nullable=True),
        sa.Column("author", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("first_seen_at", UTC, nullable=False),
        sa.Column("live_at", UTC, nullable=True),
        sa.Column("failed_at", UTC, nullable=True),
        sa.Column("removed_at", UTC, nullable=True),
        sa.Column("api_confirmed", sa.Boolean(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("is_published", sa.Boolean(), nullable=False),
        sa.Column("published_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_releases_status")),
        sa.CheckConstraint("source IN ('railway','self')", name=op.f("ck_releases_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint("deployment_id", name=op.f("uq_releases_deployment_id")),
    )
    op.create_index("ix_releases_live", "releases", ["environment_name", "live_at"])
    op.create_table(
        "deployment_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=True),
        sa.Column("format", sa.String(length=7), nullable=False),
        sa.Column("occurred_at", UTC, nullable=False),
        sa.Column("raw_body", sa.Text(), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("secret_ok", sa.Boolean(), nullable=False),
        sa.Column("api_confirmed", sa.Boolean(), nullable=True),
        sa.Column("release_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.CheckConstraint(
            "format IN ('current','legacy','unknown')", name=op.f("ck_deployment_events_format")
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("fk_deployment_events_release_id_releases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_events")),
        sa.UniqueConstraint(
            "deployment_id", "status", name=op.f("uq_deployment_events_deployment_id_status")
        ),
    )


def downgrade() -> None:
    op.drop_table("deployment_events")
    op.drop_index("ix_releases_live", table_name="releases")
    op.drop_table("releases")
    op.create_table(
        "releases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("deployment_id", sa.String(length=100), nullable=True),
        sa.Column("deployment_status", sa.String(length=30), nullable=True),
        sa.Column("commit_sha", sa.String(length=64), nullable=True),
        sa.Column("environment", sa.String(length=60), nullable=True),
        sa.Column("deployed_at", UTC, nullable=True),
        sa.Column("metadata_json", sa.JSON(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint("deployment_id", name=op.f("uq_releases_deployment_id")),
    )
