"""orders: referral_code (the code a buyer came with; DP stats read it)

Revision ID: orders_referral_code_and_states
Revises: dfeea01d937d
Create Date: 2026-12-06 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "orders_referral_code_and_states"
down_revision: str | None = "dfeea01d937d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("referral_code", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_orders_referral_code", ["referral_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_referral_code")
        batch_op.drop_column("referral_code")
