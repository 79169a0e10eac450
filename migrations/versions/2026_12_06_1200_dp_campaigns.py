"""dp campaigns: campaigns per event, templates per campaign, generated DPs with owners,
share codes and moderation states, daily counters. The two placeholder tables (never written
to) are replaced.

Revision ID: dp_campaigns
Revises: orders_referral_code_and_states
Create Date: 2026-12-06 19:08:30.179718
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import admitone.core.db

revision: str = "dp_campaigns"
# Chained after house-orders' migration, merged into this branch (was dfeea01d937d).
down_revision: str | None = "orders_referral_code_and_states"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
UTC = admitone.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("generated_dps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_generated_dps_template_id"))
    op.drop_table("generated_dps")
    with op.batch_alter_table("dp_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dp_templates_event_id"))
    op.drop_table("dp_templates")

    op.create_table(
        "dp_campaigns",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("verified_only", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=9), nullable=False),
        sa.Column("published_at", UTC, nullable=True),
        sa.Column("closed_at", UTC, nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.CheckConstraint(
            "status IN ('draft','published','closed')", name=op.f("ck_dp_campaigns_status")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_dp_campaigns_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_dp_campaigns_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dp_campaigns")),
        sa.UniqueConstraint("slug", name=op.f("uq_dp_campaigns_slug")),
    )
    with op.batch_alter_table("dp_campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dp_campaigns_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            "ix_dp_campaigns_status_published", ["status", "published_at"], unique=False
        )

    op.create_table(
        "dp_templates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("frame_file_id", sa.String(length=32), nullable=False),
        sa.Column("layout", JSON, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=7), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.CheckConstraint("status IN ('active','deleted')", name=op.f("ck_dp_templates_status")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["dp_campaigns.id"],
            name=op.f("fk_dp_templates_campaign_id_dp_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["frame_file_id"], ["files.id"], name=op.f("fk_dp_templates_frame_file_id_files")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dp_templates")),
    )
    with op.batch_alter_table("dp_templates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dp_templates_campaign_id"), ["campaign_id"], unique=False
        )

    op.create_table(
        "generated_dps",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("owner_user_id", sa.String(length=32), nullable=True),
        sa.Column("owner_token_hash", sa.String(length=64), nullable=True),
        sa.Column("supporter_key", sa.String(length=80), nullable=False),
        sa.Column("is_verified", sa.Boolean(), nullable=False),
        sa.Column("texts", JSON, nullable=False),
        sa.Column("output_file_id", sa.String(length=32), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("share_code", sa.String(length=16), nullable=False),
        sa.Column("share_to_hub", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=14), nullable=False),
        sa.Column("moderation_verdict", sa.String(length=6), nullable=False),
        sa.Column("moderation_reasons", JSON, nullable=False),
        sa.Column("deleted_at", UTC, nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.CheckConstraint(
            "status IN ('visible','pending_review','hidden','removed','deleted')",
            name=op.f("ck_generated_dps_status"),
        ),
        sa.CheckConstraint(
            "moderation_verdict IN ('allow','review','block')",
            name=op.f("ck_generated_dps_moderation_verdict"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["dp_campaigns.id"],
            name=op.f("fk_generated_dps_campaign_id_dp_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["dp_templates.id"],
            name=op.f("fk_generated_dps_template_id_dp_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_generated_dps_owner_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["output_file_id"], ["files.id"], name=op.f("fk_generated_dps_output_file_id_files")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generated_dps")),
        sa.UniqueConstraint("share_code", name=op.f("uq_generated_dps_share_code")),
    )
    with op.batch_alter_table("generated_dps", schema=None) as batch_op:
        batch_op.create_index(
            "ix_generated_dps_campaign_created", ["campaign_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_generated_dps_gallery",
            ["campaign_id", "status", "share_to_hub", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_generated_dps_owner_token_hash"), ["owner_token_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_generated_dps_owner_user_id"), ["owner_user_id"], unique=False
        )

    op.create_table(
        "dp_daily_counters",
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["dp_campaigns.id"],
            name=op.f("fk_dp_daily_counters_campaign_id_dp_campaigns"),
        ),
        sa.PrimaryKeyConstraint("campaign_id", "day", name=op.f("pk_dp_daily_counters")),
    )


def downgrade() -> None:
    op.drop_table("dp_daily_counters")
    op.drop_table("generated_dps")
    op.drop_table("dp_templates")
    op.drop_table("dp_campaigns")
    # The placeholders as the initial migration made them.
    op.create_table(
        "dp_templates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("frame_file_id", sa.String(length=32), nullable=True),
        sa.Column("layout", JSON, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.CheckConstraint(
            "status IN ('draft','active','archived')", name=op.f("ck_dp_templates_status")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_dp_templates_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["frame_file_id"], ["files.id"], name=op.f("fk_dp_templates_frame_file_id_files")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_dp_templates_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dp_templates")),
    )
    with op.batch_alter_table("dp_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dp_templates_event_id"), ["event_id"], unique=False)

    op.create_table(
        "generated_dps",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("display_name", sa.String(length=100), nullable=True),
        sa.Column("source_file_id", sa.String(length=32), nullable=True),
        sa.Column("output_file_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending','ready','failed','flagged','removed')",
            name=op.f("ck_generated_dps_status"),
        ),
        sa.ForeignKeyConstraint(
            ["output_file_id"], ["files.id"], name=op.f("fk_generated_dps_output_file_id_files")
        ),
        sa.ForeignKeyConstraint(
            ["source_file_id"], ["files.id"], name=op.f("fk_generated_dps_source_file_id_files")
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["dp_templates.id"],
            name=op.f("fk_generated_dps_template_id_dp_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_generated_dps_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generated_dps")),
    )
    with op.batch_alter_table("generated_dps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_generated_dps_template_id"), ["template_id"], unique=False
        )
