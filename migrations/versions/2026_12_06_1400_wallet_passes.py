"""wallet passes, ticket PDFs, badges, transfers: e-mail attachments listed, wallet
registrations and sync state, per-event pass settings, badge runs and prints

Revision ID: wallet_passes
Revises: dp_campaigns
Create Date: 2026-12-06 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import admitone.core.db


revision: str = 'wallet_passes'
down_revision: str | None = 'dp_campaigns'
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
    op.create_table('badge_runs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('requested_by', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=7), nullable=False),
    sa.Column('tier_ids', sa.JSON(), nullable=True),
    sa.Column('layout', sa.JSON(), nullable=True),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('file_key', sa.String(length=200), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('finished_at', admitone.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('queued','running','done','failed')", name=op.f('ck_badge_runs_status')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_badge_runs_event_id_events')),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_badge_runs_requested_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_badge_runs'))
    )
    with op.batch_alter_table('badge_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_badge_runs_event_id'), ['event_id'], unique=False)

    op.create_table('event_pass_settings',
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('transfers_enabled', sa.Boolean(), nullable=False),
    sa.Column('transfer_cutoff_minutes', sa.Integer(), nullable=False),
    sa.Column('badge_layout', sa.JSON(), nullable=True),
    sa.Column('updated_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('transfer_cutoff_minutes >= 0 AND transfer_cutoff_minutes <= 525600', name=op.f('ck_event_pass_settings_transfer_cutoff_minutes')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_pass_settings_event_id_events')),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_event_pass_settings'))
    )
    op.create_table('badge_prints',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('pass_id', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=True),
    sa.Column('printed_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_badge_prints_event_id_events')),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_badge_prints_pass_id_passes')),
    sa.ForeignKeyConstraint(['printed_by'], ['users.id'], name=op.f('fk_badge_prints_printed_by_users')),
    sa.ForeignKeyConstraint(['run_id'], ['badge_runs.id'], name=op.f('fk_badge_prints_run_id_badge_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_badge_prints'))
    )
    with op.batch_alter_table('badge_prints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_badge_prints_event_id'), ['event_id'], unique=False)
        batch_op.create_index('ix_badge_prints_pass_created', ['pass_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_badge_prints_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('badge_prints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_badge_prints_run_id'))
        batch_op.drop_index('ix_badge_prints_pass_created')
        batch_op.drop_index(batch_op.f('ix_badge_prints_event_id'))

    op.drop_table('badge_prints')
    op.drop_table('event_pass_settings')
    with op.batch_alter_table('badge_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_badge_runs_event_id'))

    op.drop_table('badge_runs')
    with op.batch_alter_table('wallet_registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wallet_registrations_pass_id'))
        batch_op.drop_index(batch_op.f('ix_wallet_registrations_device_id'))

    op.drop_table('wallet_registrations')
    op.drop_table('wallet_passes')
    with op.batch_alter_table('email_deliveries', schema=None) as batch_op:
        batch_op.drop_column('attachments')
