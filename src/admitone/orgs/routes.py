"""Tenancy routes: workspaces, organizations, team and workspace members, invitations.

Each privileged route runs one function in one transaction that checks the capability
(`access.require_capability`), applies the `orgs` use case and writes the audit row; this
file is where the two domains meet (`access` comes after `orgs`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from admitone.access import service as access
from admitone.access.capabilities import Capability
from admitone.access.service import Scope, record_audit, require_capability
from admitone.auth.deps import Actor, CurrentUser
from admitone.core.http import Db, Page, Paging, app_settings
from admitone.core.ids import (
    InvitationId,
    OrganizationId,
    TeamMemberId,
    WorkspaceId,
    WorkspaceMemberId,
)
from admitone.orgs import invitations
from admitone.orgs import service as orgs
from admitone.orgs.errors import OwnerCannotBeLimited, UnknownEvents
from admitone.orgs.models import Invitation, Organization, TeamMember, Workspace, WorkspaceMember
from admitone.orgs.schemas import (
    AcceptanceOut,
    InvitationOut,
    OrganizationIn,
    OrganizationOut,
    OrganizationPatch,
    TeamInviteIn,
    TeamMemberOut,
    TeamMemberPatch,
    UserBrief,
    WorkspaceIn,
    WorkspaceInviteIn,
    WorkspaceMemberOut,
    WorkspaceMemberPatch,
    WorkspaceOut,
)
from admitone.users.models import User

api_router = APIRouter(tags=["organizations"])
C = Capability

WorkspacePath = Annotated[WorkspaceId, Path(description="A workspace id (`wsp_...`).")]
OrgPath = Annotated[OrganizationId, Path(description="An organization id (`org_...`).")]
TeamMemberPath = Annotated[TeamMemberId, Path(description="A team member id (`tmm_...`).")]
WsMemberPath = Annotated[WorkspaceMemberId, Path(description="A workspace member (`wsm_...`).")]
InvitationPath = Annotated[InvitationId, Path(description="An invitation id (`inv_...`).")]

_denied: dict[int | str, dict[str, Any]] = {
    403: {"description": "The caller's roles lack the capability (`capability_required`)."},
    404: {"description": "No such resource, or the caller may not know it exists."},
}
_conflicts: dict[int | str, dict[str, Any]] = {
    **_denied,
    409: {"description": "`last_owner`, `already_member`, `invitation_pending`, ..."},
}


def _page(items: list[Any], limit: int, key: Any) -> tuple[list[Any], str | None]:
    more = len(items) > limit
    items = items[:limit]
    return items, (orgs.next_cursor(*key(items[-1])) if more else None)


def _brief(user: User) -> UserBrief:
    return UserBrief(id=user.id, email=user.email, name=user.name)


def _invitation_out(inv: Invitation) -> InvitationOut:
    return InvitationOut(
        id=inv.id,
        organization_id=inv.organization_id,
        workspace_id=inv.workspace_id,
        email=inv.email,
        role=inv.role,
        event_ids=inv.event_ids,
        status=invitations.invitation_status(inv),
        invited_by_user_id=inv.invited_by_user_id,
        expires_at=inv.expires_at,
        last_sent_at=inv.last_sent_at,
        accepted_at=inv.accepted_at,
        revoked_at=inv.revoked_at,
        created_at=inv.created_at,
    )


def _team_member_out(member: TeamMember, user: User) -> TeamMemberOut:
    return TeamMemberOut(
        id=member.id,
        organization_id=member.organization_id,
        user=_brief(user),
        role=member.role,
        event_ids=member.event_ids,
        created_at=member.created_at,
        updated_at=member.updated_at,
    )


def _ws_member_out(member: WorkspaceMember, user: User) -> WorkspaceMemberOut:
    return WorkspaceMemberOut(
        id=member.id,
        workspace_id=member.workspace_id,
        user=_brief(user),
        role=member.role,
        created_at=member.created_at,
    )


# --- workspaces --------------------------------------------------------------------------


@api_router.post("/workspaces", status_code=201, response_model=WorkspaceOut)
def found_workspace(db: Db, actor: CurrentUser, body: WorkspaceIn) -> WorkspaceOut:
    """Any signed-in user may found a workspace; they become its owner."""

    def run(session: Session) -> Workspace:
        ws = orgs.found_workspace(session, actor.user_id, body.name)
        record_audit(
            session,
            actor_user_id=actor.user_id,
            action="workspace.created",
            target_type="workspace",
            target_id=ws.id,
            workspace_id=ws.id,
            after={"name": ws.name},
        )
        return ws

    ws = db.mutation(run)
    return WorkspaceOut(id=ws.id, name=ws.name, role="owner", created_at=ws.created_at)


@api_router.get("/workspaces", response_model=Page[WorkspaceOut])
def my_workspaces(db: Db, actor: CurrentUser, paging: Paging) -> Page[WorkspaceOut]:
    """The workspaces the caller belongs to, with their role in each."""
    rows = db.query(
        orgs.workspaces_of_user,
        actor.user_id,
        limit=paging.limit + 1,
        cursor=orgs.parse_cursor(paging.cursor),
    )
    rows, cursor = _page(rows, paging.limit, lambda r: (r[0].created_at, r[0].id))
    items = [
        WorkspaceOut(id=w.id, name=w.name, role=role, created_at=w.created_at) for w, role in rows
    ]
    return Page[WorkspaceOut](items=items, next_cursor=cursor)


@api_router.get("/workspaces/{workspace_id}", response_model=WorkspaceOut, responses=_denied)
def get_workspace(db: Db, actor: CurrentUser, workspace_id: WorkspacePath) -> WorkspaceOut:
    def run(session: Session) -> tuple[Workspace, str | None]:
        require_capability(session, actor.user_id, C.WORKSPACE_READ, Scope.workspace(workspace_id))
        return orgs.get_workspace(session, workspace_id), orgs.workspace_role(
            session, workspace_id, actor.user_id
        )

    ws, role = db.query(run)
    return WorkspaceOut(id=ws.id, name=ws.name, role=role, created_at=ws.created_at)


@api_router.get(
    "/workspaces/{workspace_id}/members",
    response_model=Page[WorkspaceMemberOut],
    responses=_denied,
)
def list_workspace_members(
    db: Db, actor: CurrentUser, workspace_id: WorkspacePath, paging: Paging
) -> Page[WorkspaceMemberOut]:
    cursor = orgs.parse_cursor(paging.cursor)

    def run(session: Session) -> list[tuple[WorkspaceMember, User]]:
        require_capability(session, actor.user_id, C.WORKSPACE_READ, Scope.workspace(workspace_id))
        return orgs.workspace_members(session, workspace_id, limit=paging.limit + 1, cursor=cursor)

    rows, next_cursor = _page(db.query(run), paging.limit, lambda r: (r[0].created_at, r[0].id))
    return Page[WorkspaceMemberOut](
        items=[_ws_member_out(m, u) for m, u in rows], next_cursor=next_cursor
    )


@api_router.post(
    "/workspaces/{workspace_id}/members",
    status_code=201,
    response_model=InvitationOut,
    responses=_conflicts,
)
def invite_workspace_member(
    request: Request,
    db: Db,
    actor: CurrentUser,
    workspace_id: WorkspacePath,
    body: WorkspaceInviteIn,
) -> InvitationOut:
    """Invites someone by e-mail; they join when they accept the link in the e-mail."""

    def run(session: Session) -> Invitation:
        require_capability(
            session, actor.user_id, C.WORKSPACE_MANAGE, Scope.workspace(workspace_id)
        )
        inv = invitations.invite(
            session,
            inviter_id=actor.user_id,
            email=str(body.email),
            role=body.role,
            settings=app_settings(request),
            workspace_id=workspace_id,
        )
        record_audit(
            session,
            actor_user_id=actor.user_id,
            action="workspace.member.invited",
            target_type="invitation",
            target_id=inv.id,
            workspace_id=workspace_id,
            after=invitations.invitation_view(inv),
        )
        return inv

    return _invitation_out(db.mutation(run))


@api_router.patch(
    "/workspaces/{workspace_id}/members/{member_id}",
    response_model=WorkspaceMemberOut,
    responses=_conflicts,
)
def change_workspace_member(
    db: Db,
    actor: CurrentUser,
    workspace_id: WorkspacePath,
    member_id: WsMemberPath,
    body: WorkspaceMemberPatch,
) -> WorkspaceMemberOut:
    def run(session: Session) -> tuple[WorkspaceMember, User]:
        require_capability(
            session, actor.user_id, C.WORKSPACE_MANAGE, Scope.workspace(workspace_id)
        )
        member = orgs.locked_workspace_member(session, workspace_id, member_id)
        before = {"user_id": member.user_id, "role": member.role}
        orgs.change_workspace_member(session, member, body.role)
        record_audit(
            session,
            actor_user_id=actor.user_id,
            action="workspace.member.updated",
            target_type="workspace_member",
            target_id=member.id,
            workspace_id=workspace_id,
            before=before,
            after={"user_id": member.user_id, "role": member.role},
        )
        user = session.get(User, member.user_id)
        assert user is not None
        return member, user

    return _ws_member_out(*db.mutation(run))


@api_router.delete(
    "/workspaces/{workspace_id}/members/{member_id}",
    status_code=204,
    response_class=Response,
    responses=_conflicts,
)
def remove_workspace_member(
    db: Db, actor: CurrentUser, workspace_id: WorkspacePath, member_id: WsMemberPath
) -> Response:
    def run(session: Session) -> None:
        require_capability(
            session, actor.user_id, C.WORKSPACE_MANAGE, Scope.workspace(workspace_id)
        )
        member = orgs.locked_workspace_member(session, workspace_id, member_id)
        orgs.remove_workspace_member(session, member)
        record_audit(
            session,
            actor_user_id=actor.user_id,
            action="workspace.member.removed",
            target_type="workspace_member",
            target_id=member.id,
            workspace_id=workspace_id,
            before={"user_id": member.user_id, "role": member.role},
        )

    db.mutation(run)
    return Response(status_code=204)


@api_router.get(
    "/workspaces/{workspace_id}/invitations",
    response_model=Page[InvitationOut],
    responses=_denied,
)
def list_workspace_invitations(
    db: Db, actor: CurrentUser, workspace_id: WorkspacePath, paging: Paging
) -> Page[InvitationOut]:
    cursor = orgs.parse_cursor(paging.cursor)

    def run(session: Session) -> list[Invitation]:
        require_capability(session, actor.user_id, C.WORKSPACE_READ, Scope.workspace(workspace_id))
        return invitations.invitations_of(
            session, workspace_id=workspace_id, limit=paging.limit + 1, cursor=cursor
        )

    rows, next_cursor = _page(db.query(run), paging.limit, lambda r: (r.created_at, r.id))
    return Page[InvitationOut](items=[_invitation_out(i) for i in rows], next_cursor=next_cursor)


# --- organizations -----------------------------------------------------------------------


def _org_out(org: Organization) -> OrganizationOut:
    return OrganizationOut.model_validate(org, from_attributes=True)


@api_router.post(
    "/organizations", status_code=201, response_model=OrganizationOut, responses=_denied
)
def create_organization(db: Db, actor: CurrentUser, body: OrganizationIn) -> OrganizationOut:
    """A new organization in a workspace; its creator becomes the first team owner."""

    def run(session: Session) -> Organization:
        require_capability(session, actor.user_id, C.ORG_CREATE, Scope.workspace(body.workspace_id))
        org = orgs.create_organization(session, actor.user_id, body.workspace_id, body.name)
        record_audit(
            session,
            actor_user_id=actor.user_id,
            action="organization.created",
            target_type="organization",
            target_id=org.id,
            organization_id=org.id,
            after=orgs.organization_view(org),
        )
        return org

    return _org_out(db.mutation(run))


@api_router.get("/organizations", response_model=Page[OrganizationOut])
def my_organizations(
    db: Db,
    actor: CurrentUser,
    paging: Paging,
    workspace_id: Annotated[WorkspaceId | None, Query()] = None,
) -> Page[OrganizationOut]:
    """Organizations where the caller is on the team or belongs to the workspace."""
    rows = db.query(
        orgs.organizations_of_user,
        actor.user_id,
        workspace_id=workspace_id,
        limit=paging.limit + 1,
        cursor=orgs.parse_cursor(paging.cursor),
    )
    rows, cursor = _page(rows, paging.limit, lambda r: (r.created_at, r.id))
    return Page[OrganizationOut](items=[_org_out(o) for o in rows], next_cursor=cursor)


@api_router.get(
    "/organizations/{organization_id}", response_model=OrganizationOut, responses=_denied
)
def get_organization(db: Db, actor: CurrentUser, organization_id: OrgPath) -> OrganizationOut:
    def run(session: Session) -> Organization:
        require_capability(session, actor.user_id, C.ORG_READ, Scope.organization(organization_id))
        return orgs.get_organization(session, organization_id)

    return _org_out(db.query(run))


@api_router.patch(
    "/organizations/{organization_id}", response_model=OrganizationOut, responses=_conflicts
)
def update_organization(
    db: Db, actor: CurrentUser, organization_id: OrgPath, body: OrganizationPatch
) -> OrganizationOut:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)

    def run(session: Session) -> Organization:
        require_capability(
            session, actor.user_id, C.ORG_UPDATE, Scope.organization(organization_id)
        )
        org, before = orgs.update_organization(session, organization_id, changes)
        after = orgs.organization_view(org)
        if after != before:
            record_audit(
                session,
                actor_user_id=actor.user_id,
                action="organization.updated",
                target_type="organization",
                target_id=org.id,
                organization_id=org.id,
                before=before,
                after=after,
            )
        return org

    return _org_out(db.mutation(run))


# --- team --------------------------------------------------------------------------------


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


@api_router.get(
    "/organizations/{organization_id}/team",
    response_model=Page[TeamMemberOut],
    responses=_denied,
)
def list_team(
    db: Db, actor: CurrentUser, organization_id: OrgPath, paging: Paging
) -> Page[TeamMemberOut]:
    cursor = orgs.parse_cursor(paging.cursor)

    def run(session: Session) -> list[tuple[TeamMember, User]]:
        require_capability(session, actor.user_id, C.TEAM_READ, Scope.organization(organization_id))
        return orgs.team_members(session, organization_id, limit=paging.limit + 1, cursor=cursor)

    rows, next_cursor = _page(db.query(run), paging.limit, lambda r: (r[0].created_at, r[0].id))
    return Page[TeamMemberOut](
        items=[_team_member_out(m, u) for m, u in rows], next_cursor=next_cursor
    )


@api_router.post(
    "/organizations/{organization_id}/team",
    status_code=201,
    response_model=InvitationOut,
    responses=_conflicts,
)
def invite_team_member(
    request: Request, db: Db, actor: CurrentUser, organization_id: OrgPath, body: TeamInviteIn
) -> InvitationOut:
    """Invites someone by e-mail to a team role, optionally limited to some events; they
    join when they accept the link in the e-mail. Inviting an owner needs
    `team.owners.manage`."""
    event_ids = [str(e) for e in body.event_ids] if body.event_ids is not None else None

    def run(session: Session) -> Invitation:
        grant = require_capability(
            session, actor.user_id, C.TEAM_MANAGE, Scope.organization(organization_id)
        )
        if body.role == "owner":
            grant.require(C.TEAM_OWNERS_MANAGE)
        _check_limit(session, organization_id, body.role, event_ids)
        inv = invitations.invite(
            session,
            inviter_id=actor.user_id,
            email=str(body.email),
            role=body.role,
            event_ids=event_ids,
            settings=app_settings(request),
            organization_id=organization_id,
        )
        record_audit(
            session,
            actor_user_id=actor.user_id,
            action="team.member.invited",
            target_type="invitation",
            target_id=inv.id,
            organization_id=organization_id,
            after=invitations.invitation_view(inv),
        )
        return inv

    return _invitation_out(db.mutation(run))


# Declared before `/team/{member_id}`: the first route whose path matches is the one used.
@api_router.delete(
    "/organizations/{organization_id}/team/me",
    status_code=204,
    response_class=Response,
    responses={404: {"description": "`member_not_found`"}, 409: {"description": "`last_owner`"}},
)
def leave_team(db: Db, actor: CurrentUser, organization_id: OrgPath) -> Response:
    """The caller leaves the team (no capability needed); the last owner cannot."""

    def run(session: Session) -> None:
        member = orgs.locked_own_membership(session, organization_id, actor.user_id)
        orgs.remove_team_member(session, member)
        record_audit(
            session,
            actor_user_id=actor.user_id,
            action="team.member.left",
            target_type="team_member",
            target_id=member.id,
            organization_id=organization_id,
            before=orgs.team_member_view(member),
        )

    db.mutation(run)
    return Response(status_code=204)


@api_router.patch(
    "/organizations/{organization_id}/team/{member_id}",
    response_model=TeamMemberOut,
    responses=_conflicts,
)
def change_team_member(
    db: Db,
    actor: CurrentUser,
    organization_id: OrgPath,
    member_id: TeamMemberPath,
    body: TeamMemberPatch,
) -> TeamMemberOut:
    """Changes a member's role or event limit (`event_ids: null` lifts it). Promoting to or
    demoting from owner needs `team.owners.manage`; the last owner cannot be demoted."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("role", "") is None:
        changes.pop("role")
    if changes.get("event_ids") is not None:
        changes["event_ids"] = [str(e) for e in changes["event_ids"]]

    def run(session: Session) -> tuple[TeamMember, User]:
        grant = require_capability(
            session, actor.user_id, C.TEAM_MANAGE, Scope.organization(organization_id)
        )
        member = orgs.locked_team_member(session, organization_id, member_id)
        role = changes.get("role", member.role)
        if "owner" in (member.role, role):
            grant.require(C.TEAM_OWNERS_MANAGE)
        _check_limit(session, organization_id, role, changes.get("event_ids"))
        before = orgs.team_member_view(member)
        orgs.change_team_member(session, member, changes)
        after = orgs.team_member_view(member)
        if after != before:
            record_audit(
                session,
                actor_user_id=actor.user_id,
                action="team.member.updated",
                target_type="team_member",
                target_id=member.id,
                organization_id=organization_id,
                before=before,
                after=after,
            )
        user = session.get(User, member.user_id)
        assert user is not None
        return member, user

    return _team_member_out(*db.mutation(run))


@api_router.delete(
    "/organizations/{organization_id}/team/{member_id}",
    status_code=204,
    response_class=Response,
    responses=_conflicts,
)
def remove_team_member(
    db: Db, actor: CurrentUser, organization_id: OrgPath, member_id: TeamMemberPath
) -> Response:
    """Removes a member; they lose access on their next request. Removing an owner needs
    `team.owners.manage`, and the last owner cannot be removed."""

    def run(session: Session) -> None:
        grant = require_capability(
            session, actor.user_id, C.TEAM_MANAGE, Scope.organization(organization_id)
        )
        member = orgs.locked_team_member(session, organization_id, member_id)
        if member.role == "owner":
            grant.require(C.TEAM_OWNERS_MANAGE)
        orgs.remove_team_member(session, member)
        record_audit(
            session,
            actor_user_id=actor.user_id,
            action="team.member.removed",
            target_type="team_member",
            target_id=member.id,
            organization_id=organization_id,
            before=orgs.team_member_view(member),
        )

    db.mutation(run)
    return Response(status_code=204)


# --- invitations -------------------------------------------------------------------------


@api_router.get(
    "/organizations/{organization_id}/invitations",
    response_model=Page[InvitationOut],
    responses=_denied,
)
def list_team_invitations(
    db: Db, actor: CurrentUser, organization_id: OrgPath, paging: Paging
) -> Page[InvitationOut]:
    cursor = orgs.parse_cursor(paging.cursor)

    def run(session: Session) -> list[Invitation]:
        require_capability(session, actor.user_id, C.TEAM_READ, Scope.organization(organization_id))
        return invitations.invitations_of(
            session, organization_id=organization_id, limit=paging.limit + 1, cursor=cursor
        )

    rows, next_cursor = _page(db.query(run), paging.limit, lambda r: (r.created_at, r.id))
    return Page[InvitationOut](items=[_invitation_out(i) for i in rows], next_cursor=next_cursor)


def _guard_invitation(session: Session, actor: Actor, invitation_id: str) -> Invitation:
    """The invitation, once the caller may manage its team (or workspace); inviting an
    owner is an owner's business."""
    inv = invitations.get_invitation(session, invitation_id)
    if inv.organization_id is not None:
        grant = require_capability(
            session, actor.user_id, C.TEAM_MANAGE, Scope.organization(inv.organization_id)
        )
        if inv.role == "owner":
            grant.require(C.TEAM_OWNERS_MANAGE)
    else:
        assert inv.workspace_id is not None
        require_capability(
            session, actor.user_id, C.WORKSPACE_MANAGE, Scope.workspace(inv.workspace_id)
        )
    return inv


def _invitation_audit(session: Session, actor: Actor, inv: Invitation, verb: str) -> None:
    kind = "team" if inv.organization_id is not None else "workspace"
    record_audit(
        session,
        actor_user_id=actor.user_id,
        action=f"{kind}.invitation.{verb}",
        target_type="invitation",
        target_id=inv.id,
        organization_id=inv.organization_id,
        workspace_id=inv.workspace_id,
        after=invitations.invitation_view(inv),
    )


@api_router.post(
    "/invitations/{invitation_id}/resend",
    response_model=InvitationOut,
    responses={**_conflicts, 429: {"description": "Sent less than a minute ago."}},
)
def resend_invitation(
    request: Request, db: Db, actor: CurrentUser, invitation_id: InvitationPath
) -> InvitationOut:
    """E-mails a fresh link (the old one stops working) and renews the expiry."""

    def run(session: Session) -> Invitation:
        _guard_invitation(session, actor, invitation_id)
        inv = invitations.resend_invitation(session, invitation_id, app_settings(request))
        _invitation_audit(session, actor, inv, "resent")
        return inv

    return _invitation_out(db.mutation(run))


@api_router.post(
    "/invitations/{invitation_id}/revoke", response_model=InvitationOut, responses=_conflicts
)
def revoke_invitation(db: Db, actor: CurrentUser, invitation_id: InvitationPath) -> InvitationOut:
    def run(session: Session) -> Invitation:
        _guard_invitation(session, actor, invitation_id)
        inv = invitations.revoke_invitation(session, invitation_id)
        _invitation_audit(session, actor, inv, "revoked")
        return inv

    return _invitation_out(db.mutation(run))


@api_router.post(
    "/invitations/{token}/accept",
    response_model=AcceptanceOut,
    responses={
        403: {"description": "`invitation_email_mismatch`, `email_not_verified`"},
        404: {"description": "`invitation_not_found`"},
        409: {"description": "`invitation_used`, `already_member`"},
        410: {"description": "`invitation_expired`, `invitation_revoked`"},
    },
)
def accept_invitation(
    db: Db, actor: CurrentUser, token: Annotated[str, Path(min_length=10, max_length=100)]
) -> AcceptanceOut:
    """The signed-in invitee (whose verified e-mail is the invited address) joins."""

    def run(session: Session) -> invitations.Acceptance:
        done = invitations.accept_invitation(session, token, actor.user_id)
        inv = done.invitation
        if done.joined:
            kind = "team" if inv.organization_id is not None else "workspace"
            record_audit(
                session,
                actor_user_id=actor.user_id,
                action=f"{kind}.member.added",
                target_type=f"{kind}_member",
                target_id=done.member_id,
                organization_id=inv.organization_id,
                workspace_id=inv.workspace_id,
                after={
                    "user_id": actor.user_id,
                    "role": done.role,
                    "event_ids": inv.event_ids,
                    "invitation_id": inv.id,
                },
            )
        return done

    done = db.mutation(run)
    inv = done.invitation
    return AcceptanceOut(
        invitation=_invitation_out(inv),
        organization_id=inv.organization_id,
        workspace_id=inv.workspace_id,
        member_id=done.member_id,
        role=done.role,
    )
