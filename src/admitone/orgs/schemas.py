"""API shapes for workspaces, organizations, members and invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

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

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Slug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$", max_length=100)
]
TeamRole = Literal["owner", "admin", "manager", "finance", "marketing", "door_staff", "viewer"]
WorkspaceRole = Literal["owner", "admin", "member"]
EventIds = Annotated[list[EventId], Field(min_length=1, max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkspaceIn(_In):
    name: Name


class WorkspaceOut(BaseModel):
    id: WorkspaceId
    name: str
    role: WorkspaceRole | None = Field(None, description="The caller's role, if any.")
    created_at: datetime


class UserBrief(BaseModel):
    id: UserId
    email: str | None
    name: str | None


class WorkspaceMemberOut(BaseModel):
    id: WorkspaceMemberId
    workspace_id: WorkspaceId
    user: UserBrief
    role: WorkspaceRole
    created_at: datetime


class WorkspaceInviteIn(_In):
    email: EmailStr
    role: WorkspaceRole = "member"


class WorkspaceMemberPatch(_In):
    role: WorkspaceRole


class OrganizationIn(_In):
    workspace_id: WorkspaceId
    name: Name


class OrganizationPatch(_In):
    name: Name | None = None
    slug: Slug | None = None


class OrganizationOut(BaseModel):
    id: OrganizationId
    workspace_id: WorkspaceId
    name: str
    slug: str
    logo_file_id: FileId | None = Field(
        default=None, description="The logo (`PUT .../logo`); none: the bundled one is used."
    )
    created_at: datetime
    updated_at: datetime


class TeamInviteIn(_In):
    email: EmailStr
    role: TeamRole
    event_ids: EventIds | None = Field(
        None, description="Limit the role to these events of the organization; omit for all."
    )


class TeamMemberPatch(_In):
    role: TeamRole | None = None
    event_ids: EventIds | None = Field(
        None, description="Set to a list to limit the role to those events, null for all."
    )


class TeamMemberOut(BaseModel):
    id: TeamMemberId
    organization_id: OrganizationId
    user: UserBrief
    role: TeamRole
    event_ids: list[EventId] | None
    created_at: datetime
    updated_at: datetime


class InvitationOut(BaseModel):
    id: InvitationId
    organization_id: OrganizationId | None
    workspace_id: WorkspaceId | None
    email: str
    role: str
    event_ids: list[EventId] | None
    status: Literal["pending", "accepted", "revoked", "expired"]
    invited_by_user_id: UserId
    expires_at: datetime
    last_sent_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class AcceptanceOut(BaseModel):
    invitation: InvitationOut
    organization_id: OrganizationId | None
    workspace_id: WorkspaceId | None
    member_id: str
    role: str
