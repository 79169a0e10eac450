"""organization logos (organizations.logo_file_id) and per-tier transfer cut-offs
(tier_pass_settings)

Revision ID: org_logos_tier_cutoffs
Revises: dp_batches
Create Date: 2026-12-06 22:14:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import admitone.core.db


revision: str = 'org_logos_tier_cutoffs'
down_revision: str | None = 'dp_batches'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tier_pass_settings',
    sa.Column('tier_id', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('transfer_cutoff_minutes', sa.Integer(), nullable=False),
    sa.Column('updated_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('transfer_cutoff_minutes >= 0 AND transfer_cutoff_minutes <= 525600', name=op.f('ck_tier_pass_settings_tier_transfer_cutoff_minutes')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_tier_pass_settings_event_id_events')),
    sa.ForeignKeyConstraint(['tier_id'], ['ticket_tiers.id'], name=op.f('fk_tier_pass_settings_tier_id_ticket_tiers')),
    sa.PrimaryKeyConstraint('tier_id', name=op.f('pk_tier_pass_settings'))
    )
    with op.batch_alter_table('tier_pass_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tier_pass_settings_event_id'), ['event_id'], unique=False)

    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('logo_file_id', sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_organizations_logo_file_id_files'), 'files', ['logo_file_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_organizations_logo_file_id_files'), type_='foreignkey')
        batch_op.drop_column('logo_file_id')

    with op.batch_alter_table('tier_pass_settings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tier_pass_settings_event_id'))

    op.drop_table('tier_pass_settings')
