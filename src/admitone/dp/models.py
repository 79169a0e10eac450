"""DP templates (a campaign's frame) and the pictures attendees generate from them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Mutable, id_column
from admitone.core.ids import DpTemplateId, EventId, FileId, GeneratedDpId, OrganizationId, UserId


class DpTemplate(Mutable, Base):
    __tablename__ = "dp_templates"
    __table_args__ = (CheckConstraint("status IN ('draft','active','archived')", name="status"),)

    id: Mapped[DpTemplateId] = id_column()
    organization_id: Mapped[OrganizationId] = mapped_column(ForeignKey("organizations.id"))
    event_id: Mapped[EventId | None] = mapped_column(ForeignKey("events.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    frame_file_id: Mapped[FileId | None] = mapped_column(ForeignKey("files.id"))
    layout: Mapped[dict[str, Any]]  # photo box, text boxes, colours
    status: Mapped[str] = mapped_column(String(10), default="draft")


class GeneratedDp(Mutable, Base):
    __tablename__ = "generated_dps"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending','ready','failed','flagged','removed')", name="status"
        ),
    )

    id: Mapped[GeneratedDpId] = id_column()
    template_id: Mapped[DpTemplateId] = mapped_column(ForeignKey("dp_templates.id"), index=True)
    user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))
    display_name: Mapped[str | None] = mapped_column(String(100))
    source_file_id: Mapped[FileId | None] = mapped_column(ForeignKey("files.id"))
    output_file_id: Mapped[FileId | None] = mapped_column(ForeignKey("files.id"))
    status: Mapped[str] = mapped_column(String(10), default="pending")
