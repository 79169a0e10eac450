"""moderation: blocked_image_hashes (the pHash block-list)

Revision ID: blocked_image_hashes
Revises: refresh_grace
Create Date: 2026-12-06 19:11:23.709689
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import admitone.core.db

revision: str = 'blocked_image_hashes'
down_revision: str | None = 'refresh_grace'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('blocked_image_hashes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('hash', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=6), nullable=False),
    sa.Column('source_id', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('added_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("source IN ('upload','dp')", name=op.f('ck_blocked_image_hashes_source')),
    sa.ForeignKeyConstraint(['added_by'], ['users.id'], name=op.f('fk_blocked_image_hashes_added_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blocked_image_hashes')),
    sa.UniqueConstraint('hash', name=op.f('uq_blocked_image_hashes_hash'))
    )


def downgrade() -> None:
    op.drop_table('blocked_image_hashes')
