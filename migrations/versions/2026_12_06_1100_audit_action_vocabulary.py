"""audit actions renamed to one vocabulary, noun.past-tense (docs/architecture.md)

Existing audit rows keep their meaning under the new names: every action the code wrote
before (`orders.refund.created`, `team.member.invited`, ...) becomes its `noun.past-tense`
name (`order.refunded`, `team_member.invited`, ...). Data only; no schema change.

Revision ID: audit_action_vocabulary
Revises: notifications_and_webhooks
Create Date: 2026-12-06 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "audit_action_vocabulary"
down_revision: str | None = "notifications_and_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# old action -> new action (every action written on main before this change)
RENAMES = {
    "workspace.member.invited": "workspace_member.invited",
    "workspace.member.updated": "workspace_member.updated",
    "workspace.member.removed": "workspace_member.removed",
    "workspace.member.added": "workspace_member.added",
    "workspace.invitation.resent": "workspace_invitation.resent",
    "workspace.invitation.revoked": "workspace_invitation.revoked",
    "team.member.invited": "team_member.invited",
    "team.member.left": "team_member.left",
    "team.member.updated": "team_member.updated",
    "team.member.removed": "team_member.removed",
    "team.member.added": "team_member.added",
    "team.invitation.resent": "team_invitation.resent",
    "team.invitation.revoked": "team_invitation.revoked",
    "platform.role.granted": "platform_role.granted",
    "platform.role.revoked": "platform_role.revoked",
    "events.event.created": "event.created",
    "events.event.updated": "event.updated",
    "events.event.published": "event.published",
    "events.event.cancelled": "event.cancelled",
    "events.session.created": "event_session.created",
    "events.session.updated": "event_session.updated",
    "events.session.deleted": "event_session.deleted",
    "events.tier.created": "tier.created",
    "events.tier.updated": "tier.updated",
    "events.cover.updated": "event_cover.updated",
    "events.cover.removed": "event_cover.removed",
    "checkins.checkpoint.created": "checkpoint.created",
    "checkins.checkpoint.updated": "checkpoint.updated",
    "checkins.check_in.undone": "check_in.undone",
    "orders.addon.created": "addon.created",
    "orders.addon.updated": "addon.updated",
    "orders.order.cancelled": "order.cancelled",
    "orders.refund.created": "order.refunded",
}

_audit = sa.table("audit_log", sa.column("action", sa.String))


def _rename(mapping: dict[str, str]) -> None:
    for old, new in mapping.items():
        op.execute(_audit.update().where(_audit.c.action == old).values(action=new))


def upgrade() -> None:
    _rename(RENAMES)


def downgrade() -> None:
    _rename({new: old for old, new in RENAMES.items()})
