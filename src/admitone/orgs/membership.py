"""The rules of membership: workspaces, organizations, team and workspace members
(invitations are in `orgs.invitations`).

These functions do not check the caller's capabilities nor write the audit log: the use
cases in `orgs.service` do (check, act, audit), calling these.

Race-freedom: every change to who belongs to an organization (or a workspace) first locks
that organization's (workspace's) row, so "at least one owner remains" and "one pending
invitation per address" are checked and written under the same lock. SQLite has one
writer at a time anyway (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admitone.core.ids import (
    OrganizationId,
    TeamMemberId,
    WorkspaceId,
    WorkspaceMemberId,
)
from admitone.core.pagination import Keyset, SortKey
from admitone.orgs.errors import (
    LastOwner,
    MemberNotFound,
    OrganizationNotFound,
    SlugTaken,
    WorkspaceNotFound,
)
from admitone.orgs.models import Organization, TeamMember, Workspace, WorkspaceMember
from admitone.users.models import User

Page = tuple[list[Any], str | None]


def oldest_first(model: Any, id_type: type[str]) -> Keyset:
    """The order of every tenancy list: (created_at, id), oldest first."""
    return Keyset(SortKey(model.created_at, datetime), SortKey(model.id, id_type))


WORKSPACES = oldest_first(Workspace, WorkspaceId)
WORKSPACE_MEMBERS = oldest_first(WorkspaceMember, WorkspaceMemberId)
ORGANIZATIONS = oldest_first(Organization, OrganizationId)
TEAM_MEMBERS = oldest_first(TeamMember, TeamMemberId)


def normalize_email(email: str) -> str:
    return email.strip().lower()


# --- workspaces --------------------------------------------------------------------------


def found_workspace(session: Session, user_id: str, name: str) -> Workspace:
    """A new workspace whose founder is its owner."""
    ws = Workspace(id=WorkspaceId.new(), name=name, created_by_user_id=user_id)
    session.add(ws)
    session.flush()
    session.add(
        WorkspaceMember(
            id=WorkspaceMemberId.new(), workspace_id=ws.id, user_id=user_id, role="owner"
        )
    )
    session.flush()
    return ws


def get_workspace(session: Session, workspace_id: str) -> Workspace:
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        raise WorkspaceNotFound()
    return ws


def workspaces_of_user(session: Session, user_id: str, *, limit: int, cursor: str | None) -> Page:
    """A page of (workspace, the user's role there)."""
    query = (
        select(Workspace, WorkspaceMember.role)
        .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
        .where(WorkspaceMember.user_id == user_id)
    )
    rows, next_cursor = WORKSPACES.page(
        session, query, limit=limit, cursor=cursor, scalars=False, key_of=lambda r: r[0]
    )
    return [(ws, role) for ws, role in rows], next_cursor


def workspace_role(session: Session, workspace_id: str, user_id: str) -> str | None:
    return session.scalar(
        select(WorkspaceMember.role).where(
            WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_id == user_id
        )
    )


def workspace_members(
    session: Session, workspace_id: str, *, limit: int, cursor: str | None
) -> Page:
    """A page of (member, user)."""
    query = (
        select(WorkspaceMember, User)
        .join(User, User.id == WorkspaceMember.user_id)
        .where(WorkspaceMember.workspace_id == workspace_id)
    )
    rows, next_cursor = WORKSPACE_MEMBERS.page(
        session, query, limit=limit, cursor=cursor, scalars=False, key_of=lambda r: r[0]
    )
    return [(m, u) for m, u in rows], next_cursor


def lock_workspace(session: Session, workspace_id: str) -> Workspace:
    ws = session.scalar(select(Workspace).where(Workspace.id == workspace_id).with_for_update())
    if ws is None:
        raise WorkspaceNotFound()
    return ws


def locked_workspace_member(session: Session, workspace_id: str, member_id: str) -> WorkspaceMember:
    """The member, after locking its workspace so that owner counts hold until commit."""
    lock_workspace(session, workspace_id)
    member = session.scalar(
        select(WorkspaceMember).where(
            WorkspaceMember.id == member_id, WorkspaceMember.workspace_id == workspace_id
        )
    )
    if member is None:
        raise MemberNotFound()
    return member


def _other_workspace_owners(session: Session, member: WorkspaceMember) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                WorkspaceMember.workspace_id == member.workspace_id,
                WorkspaceMember.role == "owner",
                WorkspaceMember.id != member.id,
            )
        )
        or 0
    )


def change_workspace_member(session: Session, member: WorkspaceMember, role: str) -> None:
    """`member` must come from `locked_workspace_member` in this transaction."""
    if member.role == "owner" and role != "owner" and not _other_workspace_owners(session, member):
        raise LastOwner()
    member.role = role
    session.flush()


def remove_workspace_member(session: Session, member: WorkspaceMember) -> None:
    """`member` must come from `locked_workspace_member` in this transaction."""
    if member.role == "owner" and not _other_workspace_owners(session, member):
        raise LastOwner()
    session.execute(delete(WorkspaceMember).where(WorkspaceMember.id == member.id))


# --- organizations -----------------------------------------------------------------------

_SLUG_STRIP = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _SLUG_STRIP.sub("-", ascii_name.lower()).strip("-")[:60] or "org"


def create_organization(
    session: Session, user_id: str, workspace_id: str, name: str
) -> Organization:
    """A new organization in the workspace; its creator is the first team owner. The slug
    comes from the name, with a short random suffix when it is taken."""
    get_workspace(session, workspace_id)
    base = slugify(name)
    oid = OrganizationId.new()
    for attempt in range(6):
        slug = base if attempt == 0 else f"{base}-{secrets.token_hex(3)}"
        org = Organization(id=oid, workspace_id=workspace_id, name=name, slug=slug)
        try:
            with session.begin_nested():  # a taken slug rolls back only this insert
                session.add(org)
                session.flush()
        except IntegrityError:
            continue
        break
    else:  # six collisions in a row: someone is racing us on purpose
        raise SlugTaken()
    session.add(
        TeamMember(id=TeamMemberId.new(), organization_id=oid, user_id=user_id, role="owner")
    )
    session.flush()
    return org


def get_organization(session: Session, organization_id: str) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise OrganizationNotFound()
    return org


def organizations_of_user(
    session: Session, user_id: str, *, workspace_id: str | None, limit: int, cursor: str | None
) -> Page:
    """Organizations where the user is on the team, or in a workspace they belong to."""
    team = select(TeamMember.organization_id).where(TeamMember.user_id == user_id)
    spaces = select(WorkspaceMember.workspace_id).where(WorkspaceMember.user_id == user_id)
    query = select(Organization).where(
        or_(Organization.id.in_(team), Organization.workspace_id.in_(spaces))
    )
    if workspace_id is not None:
        query = query.where(Organization.workspace_id == workspace_id)
    return ORGANIZATIONS.page(session, query, limit=limit, cursor=cursor)


def organization_view(org: Organization) -> dict[str, Any]:
    return {"name": org.name, "slug": org.slug}


def update_organization(
    session: Session, organization_id: str, changes: dict[str, Any]
) -> tuple[Organization, dict[str, Any]]:
    """Applies `changes` (name, slug); returns the organization and its state before."""
    org = get_organization(session, organization_id)
    before = organization_view(org)
    for key in ("name", "slug"):
        if key in changes:
            setattr(org, key, changes[key])
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise SlugTaken() from exc
    return org, before


# --- team members ------------------------------------------------------------------------


def team_members(session: Session, organization_id: str, *, limit: int, cursor: str | None) -> Page:
    """A page of (member, user)."""
    query = (
        select(TeamMember, User)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.organization_id == organization_id)
    )
    rows, next_cursor = TEAM_MEMBERS.page(
        session, query, limit=limit, cursor=cursor, scalars=False, key_of=lambda r: r[0]
    )
    return [(m, u) for m, u in rows], next_cursor


def lock_organization(session: Session, organization_id: str) -> Organization:
    org = session.scalar(
        select(Organization).where(Organization.id == organization_id).with_for_update()
    )
    if org is None:
        raise OrganizationNotFound()
    return org


def locked_team_member(session: Session, organization_id: str, member_id: str) -> TeamMember:
    """The member, after locking its organization so that owner counts hold until commit."""
    lock_organization(session, organization_id)
    member = session.scalar(
        select(TeamMember).where(
            TeamMember.id == member_id, TeamMember.organization_id == organization_id
        )
    )
    if member is None:
        raise MemberNotFound()
    return member


def locked_own_membership(session: Session, organization_id: str, user_id: str) -> TeamMember:
    """The caller's own team membership, after locking the organization; 404 without one."""
    lock_organization(session, organization_id)
    member = session.scalar(
        select(TeamMember).where(
            TeamMember.user_id == user_id, TeamMember.organization_id == organization_id
        )
    )
    if member is None:
        raise MemberNotFound("You are not on this organization's team.")
    return member


def _other_team_owners(session: Session, member: TeamMember) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                TeamMember.organization_id == member.organization_id,
                TeamMember.role == "owner",
                TeamMember.id != member.id,
            )
        )
        or 0
    )


def team_member_view(member: TeamMember) -> dict[str, Any]:
    return {"user_id": member.user_id, "role": member.role, "event_ids": member.event_ids}


def change_team_member(session: Session, member: TeamMember, changes: dict[str, Any]) -> None:
    """Applies `changes` (role, event_ids); `member` must come from `locked_team_member`."""
    role = changes.get("role", member.role)
    if member.role == "owner" and role != "owner" and not _other_team_owners(session, member):
        raise LastOwner()
    member.role = role
    if "event_ids" in changes:
        member.event_ids = changes["event_ids"]
    if member.role == "owner":
        member.event_ids = None  # an owner reaches every event
    session.flush()


def remove_team_member(session: Session, member: TeamMember) -> None:
    """`member` must come from `locked_team_member` in this transaction."""
    if member.role == "owner" and not _other_team_owners(session, member):
        raise LastOwner()
    session.execute(delete(TeamMember).where(TeamMember.id == member.id))


# --- the caller's memberships (GET /me/memberships) ------------------------------------


@dataclass(frozen=True)
class Memberships:
    workspaces: list[dict[str, Any]]
    organizations: list[dict[str, Any]]


def list_memberships(session: Session, user_id: str) -> Memberships:
    """Every workspace and organization the user belongs to, with their role (bounded by
    the user's memberships, so not paginated)."""
    workspaces = session.execute(
        select(Workspace.id, Workspace.name, WorkspaceMember.role, WorkspaceMember.created_at)
        .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
        .where(WorkspaceMember.user_id == user_id)
        .order_by(WorkspaceMember.created_at, Workspace.id)
    ).all()
    organizations = session.execute(
        select(
            Organization.id,
            Organization.name,
            Organization.slug,
            Organization.workspace_id,
            TeamMember.role,
            TeamMember.event_ids,
        )
        .join(TeamMember, TeamMember.organization_id == Organization.id)
        .where(TeamMember.user_id == user_id)
        .order_by(TeamMember.created_at, Organization.id)
    ).all()
    return Memberships(
        workspaces=[{"workspace_id": w.id, "name": w.name, "role": w.role} for w in workspaces],
        organizations=[
            {
                "organization_id": o.id,
                "name": o.name,
                "slug": o.slug,
                "workspace_id": o.workspace_id,
                "role": o.role,
                "event_ids": o.event_ids,
            }
            for o in organizations
        ],
    )
