"""Tenancy routes: workspaces, organizations, team and workspace members, invitations.

Each route parses, calls one use case of `orgs.service` (which checks the capability,
acts and writes the audit row in one transaction) and renders.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile

from admitone.auth.deps import CurrentUser
from admitone.core.http import Db, Page, Paging, app_settings
from admitone.core.ids import (
    FileId,
    InvitationId,
    OrganizationId,
    TeamMemberId,
    WorkspaceId,
    WorkspaceMemberId,
)
from admitone.core.images import read_limited
from admitone.integrations.storage import StorageError, storage_for
from admitone.orgs import invitations, membership
from admitone.orgs.errors import StorageUnavailable
from admitone.orgs.models import Invitation, Organization, TeamMember, WorkspaceMember
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
from admitone.orgs.service import invites, logos, organizations, team, workspaces
from admitone.users.models import User
from admitone.users.schemas import MyMemberships

api_router = APIRouter(tags=["organizations"])

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
    ws = db.mutation(workspaces.found_workspace, actor.user_id, body.name)
    return WorkspaceOut(id=ws.id, name=ws.name, role="owner", created_at=ws.created_at)


@api_router.get("/workspaces", response_model=Page[WorkspaceOut])
def my_workspaces(db: Db, actor: CurrentUser, paging: Paging) -> Page[WorkspaceOut]:
    """The workspaces the caller belongs to, with their role in each."""
    rows, cursor = db.query(
        workspaces.my_workspaces, actor.user_id, limit=paging.limit, cursor=paging.cursor
    )
    items = [
        WorkspaceOut(id=w.id, name=w.name, role=role, created_at=w.created_at) for w, role in rows
    ]
    return Page[WorkspaceOut](items=items, next_cursor=cursor)


@api_router.get("/workspaces/{workspace_id}", response_model=WorkspaceOut, responses=_denied)
def get_workspace(db: Db, actor: CurrentUser, workspace_id: WorkspacePath) -> WorkspaceOut:
    ws, role = db.query(workspaces.get_workspace, actor.user_id, workspace_id)
    return WorkspaceOut(id=ws.id, name=ws.name, role=role, created_at=ws.created_at)


@api_router.get(
    "/workspaces/{workspace_id}/members",
    response_model=Page[WorkspaceMemberOut],
    responses=_denied,
)
def list_workspace_members(
    db: Db, actor: CurrentUser, workspace_id: WorkspacePath, paging: Paging
) -> Page[WorkspaceMemberOut]:
    rows, cursor = db.query(
        workspaces.list_members,
        actor.user_id,
        workspace_id,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    return Page[WorkspaceMemberOut](
        items=[_ws_member_out(m, u) for m, u in rows], next_cursor=cursor
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
    inv = db.mutation(
        workspaces.invite_member,
        actor.user_id,
        workspace_id,
        email=str(body.email),
        role=body.role,
        settings=app_settings(request),
    )
    return _invitation_out(inv)


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
    view = db.mutation(workspaces.change_member, actor.user_id, workspace_id, member_id, body.role)
    return _ws_member_out(view.member, view.user)


@api_router.delete(
    "/workspaces/{workspace_id}/members/{member_id}",
    status_code=204,
    response_class=Response,
    responses=_conflicts,
)
def remove_workspace_member(
    db: Db, actor: CurrentUser, workspace_id: WorkspacePath, member_id: WsMemberPath
) -> Response:
    db.mutation(workspaces.remove_member, actor.user_id, workspace_id, member_id)
    return Response(status_code=204)


@api_router.get(
    "/workspaces/{workspace_id}/invitations",
    response_model=Page[InvitationOut],
    responses=_denied,
)
def list_workspace_invitations(
    db: Db, actor: CurrentUser, workspace_id: WorkspacePath, paging: Paging
) -> Page[InvitationOut]:
    rows, cursor = db.query(
        workspaces.list_invitations,
        actor.user_id,
        workspace_id,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    return Page[InvitationOut](items=[_invitation_out(i) for i in rows], next_cursor=cursor)


# --- organizations -----------------------------------------------------------------------


def _org_out(org: Organization) -> OrganizationOut:
    return OrganizationOut.model_validate(org, from_attributes=True)


@api_router.post(
    "/organizations", status_code=201, response_model=OrganizationOut, responses=_denied
)
def create_organization(db: Db, actor: CurrentUser, body: OrganizationIn) -> OrganizationOut:
    """A new organization in a workspace; its creator becomes the first team owner."""
    org = db.mutation(
        organizations.create_organization, actor.user_id, body.workspace_id, body.name
    )
    return _org_out(org)


@api_router.get("/organizations", response_model=Page[OrganizationOut])
def my_organizations(
    db: Db,
    actor: CurrentUser,
    paging: Paging,
    workspace_id: Annotated[WorkspaceId | None, Query()] = None,
) -> Page[OrganizationOut]:
    """Organizations where the caller is on the team or belongs to the workspace."""
    rows, cursor = db.query(
        organizations.my_organizations,
        actor.user_id,
        workspace_id=workspace_id,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    return Page[OrganizationOut](items=[_org_out(o) for o in rows], next_cursor=cursor)


@api_router.get(
    "/organizations/{organization_id}", response_model=OrganizationOut, responses=_denied
)
def get_organization(db: Db, actor: CurrentUser, organization_id: OrgPath) -> OrganizationOut:
    return _org_out(db.query(organizations.get_organization, actor.user_id, organization_id))


@api_router.patch(
    "/organizations/{organization_id}", response_model=OrganizationOut, responses=_conflicts
)
def update_organization(
    db: Db, actor: CurrentUser, organization_id: OrgPath, body: OrganizationPatch
) -> OrganizationOut:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    org = db.mutation(organizations.update_organization, actor.user_id, organization_id, changes)
    return _org_out(org)


_LOGO_UPLOAD: dict[int | str, dict[str, Any]] = {
    **_denied,
    413: {"description": "The file is over `max_upload_bytes` (`file_too_large`)."},
    415: {"description": "Not a JPEG, PNG or WebP image (`unsupported_image_type`)."},
    422: {"description": "`invalid_image` (does not decode), `image_too_large` (> 40 MP)."},
    503: {"description": "The file store failed (`storage_unavailable`); try again."},
}


@api_router.put(
    "/organizations/{organization_id}/logo", response_model=OrganizationOut, responses=_LOGO_UPLOAD
)
def put_logo(
    request: Request,
    db: Db,
    actor: CurrentUser,
    organization_id: OrgPath,
    file: Annotated[UploadFile, File(description="A JPEG, PNG or WebP image.")],
) -> OrganizationOut:
    """Sets or replaces the logo (`org.update`): shown on wallet passes, ticket PDFs and
    badges. Re-encoded (at most 1024 px, transparency kept, metadata dropped)."""
    settings = app_settings(request)
    data = read_limited(file.file, settings.max_upload_bytes)
    db.query(logos.check_logo_change, actor.user_id, organization_id)
    image = logos.prepare_logo(data)
    file_id = FileId.new()
    key = logos.logo_key(organization_id, file_id, image.extension)
    storage = storage_for(settings)
    try:
        storage.put(key, image.data, image.content_type)
    except StorageError as exc:
        raise StorageUnavailable() from exc
    try:
        org = db.mutation(logos.set_logo, actor.user_id, organization_id, file_id, key, image)
    except BaseException:
        with contextlib.suppress(StorageError):
            storage.delete(key)  # never recorded, so nothing refers to it
        raise
    return _org_out(org)


@api_router.delete(
    "/organizations/{organization_id}/logo", response_model=OrganizationOut, responses=_denied
)
def delete_logo(db: Db, actor: CurrentUser, organization_id: OrgPath) -> OrganizationOut:
    """Removes the logo (`org.update`; a repeat is a no-op): the bundled one is used again."""
    return _org_out(db.mutation(logos.remove_logo, actor.user_id, organization_id))


# --- team --------------------------------------------------------------------------------


@api_router.get(
    "/organizations/{organization_id}/team",
    response_model=Page[TeamMemberOut],
    responses=_denied,
)
def list_team(
    db: Db, actor: CurrentUser, organization_id: OrgPath, paging: Paging
) -> Page[TeamMemberOut]:
    rows, cursor = db.query(
        team.list_team, actor.user_id, organization_id, limit=paging.limit, cursor=paging.cursor
    )
    return Page[TeamMemberOut](items=[_team_member_out(m, u) for m, u in rows], next_cursor=cursor)


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
    inv = db.mutation(
        team.invite_member,
        actor.user_id,
        organization_id,
        email=str(body.email),
        role=body.role,
        event_ids=[str(e) for e in body.event_ids] if body.event_ids is not None else None,
        settings=app_settings(request),
    )
    return _invitation_out(inv)


# Declared before `/team/{member_id}`: the first route whose path matches is the one used.
@api_router.delete(
    "/organizations/{organization_id}/team/me",
    status_code=204,
    response_class=Response,
    responses={404: {"description": "`member_not_found`"}, 409: {"description": "`last_owner`"}},
)
def leave_team(db: Db, actor: CurrentUser, organization_id: OrgPath) -> Response:
    """The caller leaves the team (no capability needed); the last owner cannot."""
    db.mutation(team.leave_team, actor.user_id, organization_id)
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
    view = db.mutation(team.change_member, actor.user_id, organization_id, member_id, changes)
    return _team_member_out(view.member, view.user)


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
    db.mutation(team.remove_member, actor.user_id, organization_id, member_id)
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
    rows, cursor = db.query(
        team.list_invitations,
        actor.user_id,
        organization_id,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    return Page[InvitationOut](items=[_invitation_out(i) for i in rows], next_cursor=cursor)


@api_router.post(
    "/invitations/{invitation_id}/resend",
    response_model=InvitationOut,
    responses={**_conflicts, 429: {"description": "Sent less than a minute ago."}},
)
def resend_invitation(
    request: Request, db: Db, actor: CurrentUser, invitation_id: InvitationPath
) -> InvitationOut:
    """E-mails a fresh link (the old one stops working) and renews the expiry."""
    inv = db.mutation(
        invites.resend_invitation, actor.user_id, invitation_id, app_settings(request)
    )
    return _invitation_out(inv)


@api_router.post(
    "/invitations/{invitation_id}/revoke", response_model=InvitationOut, responses=_conflicts
)
def revoke_invitation(db: Db, actor: CurrentUser, invitation_id: InvitationPath) -> InvitationOut:
    return _invitation_out(db.mutation(invites.revoke_invitation, actor.user_id, invitation_id))


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
    done = db.mutation(invites.accept_invitation, actor.user_id, token)
    inv = done.invitation
    return AcceptanceOut(
        invitation=_invitation_out(inv),
        organization_id=inv.organization_id,
        workspace_id=inv.workspace_id,
        member_id=done.member_id,
        role=done.role,
    )


# --- the caller's memberships --------------------------------------------------------------


@api_router.get("/me/memberships", response_model=MyMemberships, tags=["me"])
def my_memberships(actor: CurrentUser, db: Db) -> MyMemberships:
    """The workspaces and organizations the caller belongs to, with their role."""
    found = db.query(membership.list_memberships, actor.user_id)
    return MyMemberships.model_validate(
        {"workspaces": found.workspaces, "organizations": found.organizations}
    )
