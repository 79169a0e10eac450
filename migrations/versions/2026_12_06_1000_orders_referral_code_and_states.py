"""orders: referral_code (the code a buyer came with; DP stats read it); webhook outcomes
checked against payments.models.WebhookOutcome

Revision ID: orders_referral_code_and_states
Revises: blocked_image_hashes
Create Date: 2026-12-06 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "orders_referral_code_and_states"
down_revision: str | None = "blocked_image_hashes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("referral_code", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_orders_referral_code", ["referral_code"], unique=False)

    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_webhook_events_outcome"),
            "outcome IN ('received','duplicate','ignored','unknown_reference',"
            "'payment_amount_mismatch','payment_failed','stale','already_paid','paid',"
            "'paid_after_expiry','refunded_automatically','refund_updated','unknown_refund')",
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_webhook_events_outcome"), type_="check")

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_referral_code")
        batch_op.drop_column("referral_code")
