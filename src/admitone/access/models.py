"""Platform roles and the audit log of privileged changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Timestamped, id_column
from admitone.core.ids import AuditEntryId, OrganizationId, PlatformRoleId, UserId, WorkspaceId

PLATFORM_ROLES = ("superadmin", "support", "moderator", "finance", "release_manager")


class PlatformRole(Timestamped, Base):
    __tablename__ = "platform_roles"
    __table_args__ = (
        UniqueConstraint("user_id", "role"),
        CheckConstraint(
            "role IN ('superadmin','support','moderator','finance','release_manager')",
            name="role",
        ),
    )

    id: Mapped[PlatformRoleId] = id_column()
    user_id: Mapped[UserId] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(30))
    granted_by_user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))


class AuditEntry(Timestamped, Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_org_created", "organization_id", "created_at"),
        Index("ix_audit_log_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[AuditEntryId] = id_column()
    actor_user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))
    organization_id: Mapped[OrganizationId | None] = mapped_column(ForeignKey("organizations.id"))
    # Set for workspace-level changes (members, invitations), read at /workspaces/{id}/audit.
    workspace_id: Mapped[WorkspaceId | None] = mapped_column(ForeignKey("workspaces.id"))
    action: Mapped[str] = mapped_column(String(100))  # noun.past-tense (docs/architecture.md)
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    request_id: Mapped[str | None] = mapped_column(String(64))
