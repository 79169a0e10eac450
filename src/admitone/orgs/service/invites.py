"""Invitations by id (resend, revoke) and by token (accept)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Guarded, Scope, guard, record_audit
from admitone.core.ids import InvitationId, UserId
from admitone.orgs import invitations
from admitone.orgs.models import Invitation
from admitone.settings import Settings


def _guard(session: Session, actor_id: UserId, invitation_id: InvitationId) -> Guarded:
    """The caller may manage the invitation's team (or workspace); an owner's invitation is
    an owner's business."""
    inv = invitations.get_invitation(session, invitation_id)
    if inv.organization_id is not None:
        g = guard(
            session, actor_id, Capability.TEAM_MANAGE, Scope.organization(inv.organization_id)
        )
        if inv.role == "owner":
            g.require(Capability.TEAM_OWNERS_MANAGE)
        return g
    assert inv.workspace_id is not None
    return guard(session, actor_id, Capability.WORKSPACE_MANAGE, Scope.workspace(inv.workspace_id))


def _kind(inv: Invitation) -> str:
    return "team" if inv.organization_id is not None else "workspace"


def resend_invitation(
    session: Session, actor_id: UserId, invitation_id: InvitationId, settings: Settings
) -> Invitation:
    """E-mails a fresh link (the old one stops working) and renews the expiry."""
    g = _guard(session, actor_id, invitation_id)
    inv = invitations.resend_invitation(session, invitation_id, settings)
    g.audit(
        f"{_kind(inv)}_invitation.resent",
        "invitation",
        inv.id,
        after=invitations.invitation_view(inv),
    )
    return inv


def revoke_invitation(
    session: Session, actor_id: UserId, invitation_id: InvitationId
) -> Invitation:
    g = _guard(session, actor_id, invitation_id)
    inv = invitations.revoke_invitation(session, invitation_id)
    g.audit(
        f"{_kind(inv)}_invitation.revoked",
        "invitation",
        inv.id,
        after=invitations.invitation_view(inv),
    )
    return inv


def accept_invitation(session: Session, actor_id: UserId, token: str) -> invitations.Acceptance:
    """The signed-in invitee (whose verified e-mail is the invited address) joins."""
    done = invitations.accept_invitation(session, token, actor_id)
    inv = done.invitation
    if done.joined:
        kind = _kind(inv)
        record_audit(
            session,
            actor_user_id=actor_id,
            action=f"{kind}_member.added",
            target_type=f"{kind}_member",
            target_id=done.member_id,
            organization_id=inv.organization_id,
            workspace_id=inv.workspace_id,
            after={
                "user_id": actor_id,
                "role": done.role,
                "event_ids": inv.event_ids,
                "invitation_id": inv.id,
            },
        )
    return done
