"""refresh tokens remember the client that rotated them (the retry grace window)

Revision ID: refresh_grace
Revises: releases_from_deployments
Create Date: 2026-12-06 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "refresh_grace"
down_revision: str | None = "releases_from_deployments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rotated_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_column("rotated_by")
