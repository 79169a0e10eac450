"""An organization's team: list, invite, change, remove, leave."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from admitone.access import service as access
from admitone.access.capabilities import Capability
from admitone.access.service import Scope, guard, record_audit, require_capability
from admitone.core.ids import OrganizationId, TeamMemberId, UserId
from admitone.orgs import invitations
from admitone.orgs import membership as rules
from admitone.orgs.errors import OwnerCannotBeLimited, UnknownEvents
from admitone.orgs.membership import Page
from admitone.orgs.models import Invitation, TeamMember
from admitone.settings import Settings
from admitone.users.models import User


@dataclass(frozen=True)
class MemberView:
    member: TeamMember
    user: User


def _check_limit(
    session: Session, organization_id: str, role: str, event_ids: list[str] | None
) -> None:
    if event_ids is None:
        return
    if role == "owner":
        raise OwnerCannotBeLimited()
    unknown = set(event_ids) - access.events_of_organization(session, organization_id, event_ids)
    if unknown:
        raise UnknownEvents(event_ids=sorted(unknown))


def list_team(
    session: Session,
    actor_id: UserId,
    organization_id: OrganizationId,
    *,
    limit: int,
    cursor: str | None,
) -> Page:
    require_capability(session, actor_id, Capability.TEAM_READ, Scope.organization(organization_id))
    return rules.team_members(session, organization_id, limit=limit, cursor=cursor)


def list_invitations(
    session: Session,
    actor_id: UserId,
    organization_id: OrganizationId,
    *,
    limit: int,
    cursor: str | None,
) -> Page:
    require_capability(session, actor_id, Capability.TEAM_READ, Scope.organization(organization_id))
    return invitations.invitations_of(
        session, organization_id=organization_id, limit=limit, cursor=cursor
    )


def invite_member(
    session: Session,
    actor_id: UserId,
    organization_id: OrganizationId,
    *,
    email: str,
    role: str,
    event_ids: list[str] | None,
    settings: Settings,
) -> Invitation:
    """Inviting an owner needs `team.owners.manage`."""
    g = guard(session, actor_id, Capability.TEAM_MANAGE, Scope.organization(organization_id))
    if role == "owner":
        g.require(Capability.TEAM_OWNERS_MANAGE)
    _check_limit(session, organization_id, role, event_ids)
    inv = invitations.invite(
        session,
        inviter_id=actor_id,
        email=email,
        role=role,
        event_ids=event_ids,
        settings=settings,
        organization_id=organization_id,
    )
    g.audit("team_member.invited", "invitation", inv.id, after=invitations.invitation_view(inv))
    return inv


def leave_team(session: Session, actor_id: UserId, organization_id: OrganizationId) -> None:
    """The caller leaves (no capability needed); the last owner cannot."""
    member = rules.locked_own_membership(session, organization_id, actor_id)
    rules.remove_team_member(session, member)
    record_audit(
        session,
        actor_user_id=actor_id,
        action="team_member.left",
        target_type="team_member",
        target_id=member.id,
        organization_id=organization_id,
        before=rules.team_member_view(member),
    )


def change_member(
    session: Session,
    actor_id: UserId,
    organization_id: OrganizationId,
    member_id: TeamMemberId,
    changes: dict[str, Any],
) -> MemberView:
    """Promoting to or demoting from owner needs `team.owners.manage`."""
    g = guard(session, actor_id, Capability.TEAM_MANAGE, Scope.organization(organization_id))
    member = rules.locked_team_member(session, organization_id, member_id)
    role = changes.get("role", member.role)
    if "owner" in (member.role, role):
        g.require(Capability.TEAM_OWNERS_MANAGE)
    _check_limit(session, organization_id, role, changes.get("event_ids"))
    before = rules.team_member_view(member)
    rules.change_team_member(session, member, changes)
    g.audit(
        "team_member.updated",
        "team_member",
        member.id,
        before=before,
        after=rules.team_member_view(member),
    )
    user = session.get(User, member.user_id)
    assert user is not None
    return MemberView(member, user)


def remove_member(
    session: Session, actor_id: UserId, organization_id: OrganizationId, member_id: TeamMemberId
) -> None:
    """Removing an owner needs `team.owners.manage`; the last owner cannot be removed."""
    g = guard(session, actor_id, Capability.TEAM_MANAGE, Scope.organization(organization_id))
    member = rules.locked_team_member(session, organization_id, member_id)
    if member.role == "owner":
        g.require(Capability.TEAM_OWNERS_MANAGE)
    rules.remove_team_member(session, member)
    g.audit("team_member.removed", "team_member", member.id, before=rules.team_member_view(member))
