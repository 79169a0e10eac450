"""wallet passes, ticket PDFs, badges, transfers: e-mail attachments listed

Revision ID: wallet_passes
Revises: dfeea01d937d
Create Date: 2026-12-06 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'wallet_passes'
down_revision: str | None = 'dfeea01d937d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('email_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachments', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('email_deliveries', schema=None) as batch_op:
        batch_op.drop_column('attachments')
