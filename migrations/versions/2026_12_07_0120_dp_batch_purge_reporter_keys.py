"""DP batch purge and reporter keys: `dp_batches.purged_at` (the retention purge took the
batch's files), and anonymous reporters' keys no longer an unsalted hash of their address

An unsalted SHA-256 of an IPv4 address is reversed by hashing all 2^32 of them; the new keys
are a secret-keyed HMAC (docs/dp.md "Reports"). The old keys cannot be converted without the
addresses, so they are replaced by a key unique to their report: a past anonymous reporter
may report the same DP once more.

Revision ID: dp_batch_purge
Revises: webhook_deliveries_due
Create Date: 2026-12-07 01:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import admitone.core.db

revision: str = "dp_batch_purge"
down_revision: str | None = "webhook_deliveries_due"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dp_batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purged_at", admitone.core.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute(
        "UPDATE dp_reports SET reporter_key = 'legacy:' || id WHERE reporter_key LIKE 'ip:%'"
    )


def downgrade() -> None:
    # The replaced reporter keys stay replaced (the addresses were never stored).
    with op.batch_alter_table("dp_batches", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
