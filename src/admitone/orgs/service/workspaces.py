"""Workspaces and their members: found, read, invite, change, remove."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, guard, record_audit, require_capability
from admitone.core.ids import UserId, WorkspaceId, WorkspaceMemberId
from admitone.orgs import invitations
from admitone.orgs import membership as rules
from admitone.orgs.membership import Page
from admitone.orgs.models import Invitation, Workspace, WorkspaceMember
from admitone.settings import Settings
from admitone.users.models import User


@dataclass(frozen=True)
class MemberView:
    member: WorkspaceMember
    user: User


def found_workspace(session: Session, actor_id: UserId, name: str) -> Workspace:
    """Any signed-in user may found a workspace; they become its owner."""
    ws = rules.found_workspace(session, actor_id, name)
    record_audit(
        session,
        actor_user_id=actor_id,
        action="workspace.created",
        target_type="workspace",
        target_id=ws.id,
        workspace_id=ws.id,
        after={"name": ws.name},
    )
    return ws


def my_workspaces(session: Session, actor_id: UserId, *, limit: int, cursor: str | None) -> Page:
    return rules.workspaces_of_user(session, actor_id, limit=limit, cursor=cursor)


def get_workspace(
    session: Session, actor_id: UserId, workspace_id: WorkspaceId
) -> tuple[Workspace, str | None]:
    """The workspace and the caller's role in it (None: reached through a platform role)."""
    require_capability(session, actor_id, Capability.WORKSPACE_READ, Scope.workspace(workspace_id))
    return rules.get_workspace(session, workspace_id), rules.workspace_role(
        session, workspace_id, actor_id
    )


def list_members(
    session: Session, actor_id: UserId, workspace_id: WorkspaceId, *, limit: int, cursor: str | None
) -> Page:
    require_capability(session, actor_id, Capability.WORKSPACE_READ, Scope.workspace(workspace_id))
    return rules.workspace_members(session, workspace_id, limit=limit, cursor=cursor)


def list_invitations(
    session: Session, actor_id: UserId, workspace_id: WorkspaceId, *, limit: int, cursor: str | None
) -> Page:
    require_capability(session, actor_id, Capability.WORKSPACE_READ, Scope.workspace(workspace_id))
    return invitations.invitations_of(
        session, workspace_id=workspace_id, limit=limit, cursor=cursor
    )


def invite_member(
    session: Session,
    actor_id: UserId,
    workspace_id: WorkspaceId,
    *,
    email: str,
    role: str,
    settings: Settings,
) -> Invitation:
    g = guard(session, actor_id, Capability.WORKSPACE_MANAGE, Scope.workspace(workspace_id))
    inv = invitations.invite(
        session,
        inviter_id=actor_id,
        email=email,
        role=role,
        settings=settings,
        workspace_id=workspace_id,
    )
    g.audit(
        "workspace_member.invited", "invitation", inv.id, after=invitations.invitation_view(inv)
    )
    return inv


def _view(member: WorkspaceMember) -> dict[str, str]:
    return {"user_id": member.user_id, "role": member.role}


def change_member(
    session: Session,
    actor_id: UserId,
    workspace_id: WorkspaceId,
    member_id: WorkspaceMemberId,
    role: str,
) -> MemberView:
    g = guard(session, actor_id, Capability.WORKSPACE_MANAGE, Scope.workspace(workspace_id))
    member = rules.locked_workspace_member(session, workspace_id, member_id)
    before = _view(member)
    rules.change_workspace_member(session, member, role)
    g.audit(
        "workspace_member.updated",
        "workspace_member",
        member.id,
        before=before,
        after=_view(member),
    )
    user = session.get(User, member.user_id)
    assert user is not None
    return MemberView(member, user)


def remove_member(
    session: Session, actor_id: UserId, workspace_id: WorkspaceId, member_id: WorkspaceMemberId
) -> None:
    g = guard(session, actor_id, Capability.WORKSPACE_MANAGE, Scope.workspace(workspace_id))
    member = rules.locked_workspace_member(session, workspace_id, member_id)
    rules.remove_workspace_member(session, member)
    g.audit("workspace_member.removed", "workspace_member", member.id, before=_view(member))
