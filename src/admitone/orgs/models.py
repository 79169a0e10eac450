"""Workspaces, their members, organizations, team members and invitations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from admitone.access.scopes import OrganizationColumns, register_organizations
from admitone.core.db import Base, JSONType, Mutable, id_column
from admitone.core.ids import (
    EventId,
    FileId,
    InvitationId,
    OrganizationId,
    TeamMemberId,
    UserId,
    WorkspaceId,
    WorkspaceMemberId,
)

WORKSPACE_ROLES = ("owner", "admin", "member")
TEAM_ROLES = ("owner", "admin", "manager", "finance", "marketing", "door_staff", "viewer")


class Workspace(Mutable, Base):
    __tablename__ = "workspaces"

    id: Mapped[WorkspaceId] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    created_by_user_id: Mapped[UserId] = mapped_column(ForeignKey("users.id"))


class WorkspaceMember(Mutable, Base):
    __tablename__ = "workspace_members"
    __table_args__ = (
        UniqueConstraint("workspace_id", "user_id"),
        CheckConstraint("role IN ('owner','admin','member')", name="role"),
    )

    id: Mapped[WorkspaceMemberId] = id_column()
    workspace_id: Mapped[WorkspaceId] = mapped_column(ForeignKey("workspaces.id"))
    user_id: Mapped[UserId] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))


class Organization(Mutable, Base):
    __tablename__ = "organizations"

    id: Mapped[OrganizationId] = id_column()
    workspace_id: Mapped[WorkspaceId] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    # The organization's logo (a cleaned upload): wallet passes, ticket PDFs and badges.
    logo_file_id: Mapped[FileId | None] = mapped_column(ForeignKey("files.id"))


class TeamMember(Mutable, Base):
    __tablename__ = "team_members"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id"),
        CheckConstraint(
            "role IN ('owner','admin','manager','finance','marketing','door_staff','viewer')",
            name="role",
        ),
    )

    id: Mapped[TeamMemberId] = id_column()
    organization_id: Mapped[OrganizationId] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[UserId] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    # None: every event of the organization; else only these events.
    event_ids: Mapped[list[EventId] | None] = mapped_column(JSONType)


class Invitation(Mutable, Base):
    """An invitation to one workspace or one organization's team, by e-mail.

    Only the SHA-256 of the token is stored. Pending while `accepted_at` and `revoked_at`
    are NULL and `expires_at` is ahead; acceptance is one conditional UPDATE on exactly
    that condition, so a token works once.
    """

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint("(organization_id IS NULL) <> (workspace_id IS NULL)", name="one_target"),
        CheckConstraint(
            "role IN ('owner','admin','member','manager','finance','marketing',"
            "'door_staff','viewer')",
            name="role",
        ),
    )

    id: Mapped[InvitationId] = id_column()
    organization_id: Mapped[OrganizationId | None] = mapped_column(
        ForeignKey("organizations.id"), index=True
    )
    workspace_id: Mapped[WorkspaceId | None] = mapped_column(
        ForeignKey("workspaces.id"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))  # lower-cased
    role: Mapped[str] = mapped_column(String(20))
    event_ids: Mapped[list[EventId] | None] = mapped_column(JSONType)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_user_id: Mapped[UserId] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime]
    last_sent_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    accepted_by_user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]


# access resolves roles from these tables, and sits below orgs: it reads them through the
# columns registered here (access/scopes.py).
register_organizations(
    OrganizationColumns(
        organization_id=Organization.id,
        organization_workspace_id=Organization.workspace_id,
        workspace_member_workspace_id=WorkspaceMember.workspace_id,
        workspace_member_user_id=WorkspaceMember.user_id,
        workspace_member_role=WorkspaceMember.role,
        team_member_organization_id=TeamMember.organization_id,
        team_member_user_id=TeamMember.user_id,
        team_member_role=TeamMember.role,
        team_member_event_ids=TeamMember.event_ids,
    )
)
