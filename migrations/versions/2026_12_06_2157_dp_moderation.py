"""dp moderation: reports, the review queue, the classifier's state and the photo's hash

Revision ID: dp_moderation
Revises: audit_action_vocabulary
Create Date: 2026-12-06 21:57:55.780387

Existing DPs were allowed by the checks of their day: the visible ones stay in the gallery
(`cleared_at = created_at`); the classifier never saw them (`off`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import admitone.core.db

revision: str = "dp_moderation"
down_revision: str | None = "audit_action_vocabulary"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dp_reports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dp_id", sa.String(length=32), nullable=False),
        sa.Column("reporter_user_id", sa.String(length=32), nullable=True),
        sa.Column("reporter_key", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=6), nullable=False),
        sa.Column("created_at", admitone.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open','closed')", name=op.f("ck_dp_reports_status")),
        sa.ForeignKeyConstraint(
            ["dp_id"], ["generated_dps.id"], name=op.f("fk_dp_reports_dp_id_generated_dps")
        ),
        sa.ForeignKeyConstraint(
            ["reporter_user_id"], ["users.id"], name=op.f("fk_dp_reports_reporter_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dp_reports")),
        sa.UniqueConstraint(
            "dp_id", "reporter_key", name=op.f("uq_dp_reports_dp_id_reporter_key")
        ),
    )
    with op.batch_alter_table("dp_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dp_reports_dp_id"), ["dp_id"], unique=False)

    with op.batch_alter_table("generated_dps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("photo_hash", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "classifier_state", sa.String(length=11), nullable=False, server_default="off"
            )
        )
        batch_op.add_column(
            sa.Column("cleared_at", admitone.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "review_requested_at", admitone.core.db.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("report_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_check_constraint(
            "classifier_state", "classifier_state IN ('pending','done','unavailable','off')"
        )
        batch_op.create_index(
            "ix_generated_dps_review_queue", ["review_requested_at", "id"], unique=False
        )
    op.execute(
        "UPDATE generated_dps SET cleared_at = created_at "
        "WHERE status = 'visible' AND moderation_verdict = 'allow'"
    )
    op.execute(
        "UPDATE generated_dps SET review_requested_at = created_at "
        "WHERE status = 'pending_review'"
    )
    with op.batch_alter_table("generated_dps", schema=None) as batch_op:
        batch_op.alter_column("classifier_state", server_default=None)
        batch_op.alter_column("report_count", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("generated_dps", schema=None) as batch_op:
        batch_op.drop_index("ix_generated_dps_review_queue")
        batch_op.drop_constraint(op.f("ck_generated_dps_classifier_state"), type_="check")
        batch_op.drop_column("report_count")
        batch_op.drop_column("review_requested_at")
        batch_op.drop_column("cleared_at")
        batch_op.drop_column("classifier_state")
        batch_op.drop_column("photo_hash")

    with op.batch_alter_table("dp_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dp_reports_dp_id"))

    op.drop_table("dp_reports")
