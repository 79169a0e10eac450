"""webhook deliveries due index: what a batched delivery run claims (an endpoint's due
pending deliveries), kept small by covering pending rows only.

Revision ID: webhook_deliveries_due
Revises: org_logos_tier_cutoffs
Create Date: 2026-12-06 22:18:03.156930
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "webhook_deliveries_due"
down_revision: str | None = "org_logos_tier_cutoffs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_due",
            ["endpoint_id", "next_attempt_at"],
            unique=False,
            postgresql_where=PENDING,
            sqlite_where=PENDING,
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_due")
