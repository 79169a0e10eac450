"""DP batches: an organizer's CSV (names, titles, photos) and its rows, rendered by the
workers (docs/dp.md "Batches")

Revision ID: dp_batches
Revises: dp_moderation
Create Date: 2026-12-06 21:58:12.382828
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import admitone.core.db

revision: str = "dp_batches"
down_revision: str | None = "dp_moderation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dp_batches',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('campaign_id', sa.String(length=32), nullable=False),
    sa.Column('template_id', sa.String(length=32), nullable=False),
    sa.Column('created_by_user_id', sa.String(length=32), nullable=False),
    sa.Column('photos_file_id', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=9), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('finished_at', admitone.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', admitone.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('running','completed','cancelled')", name=op.f('ck_dp_batches_status')),
    sa.ForeignKeyConstraint(['campaign_id'], ['dp_campaigns.id'], name=op.f('fk_dp_batches_campaign_id_dp_campaigns')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_dp_batches_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_dp_batches_organization_id_organizations')),
    sa.ForeignKeyConstraint(['photos_file_id'], ['files.id'], name=op.f('fk_dp_batches_photos_file_id_files')),
    sa.ForeignKeyConstraint(['template_id'], ['dp_templates.id'], name=op.f('fk_dp_batches_template_id_dp_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dp_batches'))
    )
    with op.batch_alter_table('dp_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dp_batches_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('dp_batch_rows',
    sa.Column('batch_id', sa.String(length=32), nullable=False),
    sa.Column('line', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('photo', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=9), nullable=False),
    sa.Column('error', sa.String(length=60), nullable=True),
    sa.Column('detail', sa.String(length=300), nullable=True),
    sa.Column('output_file_id', sa.String(length=32), nullable=True),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('claimed_until', admitone.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claims', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('pending','rendering','done','failed','cancelled')", name=op.f('ck_dp_batch_rows_status')),
    sa.ForeignKeyConstraint(['batch_id'], ['dp_batches.id'], name=op.f('fk_dp_batch_rows_batch_id_dp_batches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['output_file_id'], ['files.id'], name=op.f('fk_dp_batch_rows_output_file_id_files')),
    sa.PrimaryKeyConstraint('batch_id', 'line', name=op.f('pk_dp_batch_rows'))
    )
    with op.batch_alter_table('dp_batch_rows', schema=None) as batch_op:
        batch_op.create_index('ix_dp_batch_rows_claim', ['batch_id', 'status', 'line'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dp_batch_rows', schema=None) as batch_op:
        batch_op.drop_index('ix_dp_batch_rows_claim')

    op.drop_table('dp_batch_rows')
    with op.batch_alter_table('dp_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dp_batches_campaign_id'))

    op.drop_table('dp_batches')
