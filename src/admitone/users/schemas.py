"""API shapes of the current user: profile, profile changes, memberships."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from admitone.core.ids import EventId, FileId, OrganizationId, UserId, WorkspaceId

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# E.164: a plus, a country code and the number, 8 to 15 digits in all.
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+[1-9]\d{7,14}$")]


class Me(BaseModel):
    id: UserId
    email: str | None
    email_verified: bool
    name: str | None
    phone: str | None
    avatar_file_id: FileId | None
    created_at: datetime


class MeUpdate(BaseModel):
    """Only the fields present change; `null` clears one."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    phone: Phone | None = None
    avatar_file_id: FileId | None = None


class WorkspaceMembership(BaseModel):
    workspace_id: WorkspaceId
    name: str
    role: str


class OrganizationMembership(BaseModel):
    organization_id: OrganizationId
    name: str
    slug: str
    workspace_id: WorkspaceId
    role: str
    event_ids: list[EventId] | None  # None: every event of the organization


class MyMemberships(BaseModel):
    workspaces: list[WorkspaceMembership]
    organizations: list[OrganizationMembership]
