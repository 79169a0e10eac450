"""wallet passes, ticket PDFs, badges, transfers: e-mail attachments listed

Revision ID: wallet_passes
Revises: dfeea01d937d
Create Date: 2026-12-06 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import admitone.core.db


revision: str = 'wallet_passes'
down_revision: str | None = 'dfeea01d937d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('email_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachments', sa.JSON(), nullable=True))
    op.create_table('wallet_passes',
    sa.Column('pass_id', sa.String(length=32), nullable=False),
    sa.Column('google_linked', sa.Boolean(), nullable=False),
    sa.Column('synced_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_wallet_passes_pass_id_passes')),
    sa.PrimaryKeyConstraint('pass_id', name=op.f('pk_wallet_passes'))
    )
    op.create_table('wallet_registrations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('device_id', sa.String(length=200), nullable=False),
    sa.Column('pass_id', sa.String(length=32), nullable=False),
    sa.Column('push_token', sa.String(length=200), nullable=False),
    sa.Column('updated_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_wallet_registrations_pass_id_passes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_registrations')),
    sa.UniqueConstraint('device_id', 'pass_id', name=op.f('uq_wallet_registrations_device_id_pass_id'))
    )
    with op.batch_alter_table('wallet_registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallet_registrations_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_wallet_registrations_pass_id'), ['pass_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('wallet_registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wallet_registrations_pass_id'))
        batch_op.drop_index(batch_op.f('ix_wallet_registrations_device_id'))

    op.drop_table('wallet_registrations')
    op.drop_table('wallet_passes')
    with op.batch_alter_table('email_deliveries', schema=None) as batch_op:
        batch_op.drop_column('attachments')
