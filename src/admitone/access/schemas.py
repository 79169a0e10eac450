"""API shapes for capabilities, platform roles and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from admitone.core.ids import (
    AuditEntryId,
    EventId,
    OrganizationId,
    PlatformRoleId,
    UserId,
    WorkspaceId,
)

PlatformRoleName = Literal["superadmin", "support", "moderator", "finance", "release_manager"]


class CapabilitiesOut(BaseModel):
    organization_id: OrganizationId
    workspace_id: WorkspaceId
    capabilities: list[str] = Field(description="Sorted capability names, e.g. `event.create`.")
    event_ids: list[EventId] | None = Field(
        description="When set, event capabilities hold only for these events."
    )


class PlatformRoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId | None = None
    email: EmailStr | None = None
    role: PlatformRoleName

    @model_validator(mode="after")
    def _one_user(self) -> PlatformRoleIn:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of `user_id` and `email`")
        return self


class PlatformRoleOut(BaseModel):
    id: PlatformRoleId
    user_id: UserId
    email: str | None
    role: PlatformRoleName
    granted_by_user_id: UserId | None
    created_at: datetime


class AuditEntryOut(BaseModel):
    id: AuditEntryId
    actor_user_id: UserId | None
    organization_id: OrganizationId | None
    workspace_id: WorkspaceId | None
    action: str
    target_type: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    created_at: datetime
