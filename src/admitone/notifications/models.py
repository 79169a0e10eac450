"""In-app notifications for a user."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Timestamped, id_column
from admitone.core.ids import NotificationId, UserId


class Notification(Timestamped, Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at"),)

    id: Mapped[NotificationId] = id_column()
    user_id: Mapped[UserId] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(String(2000))
    data: Mapped[dict[str, Any] | None]
    read_at: Mapped[datetime | None]
