"""In-app notifications for a user, and each user's channel preferences per kind."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Mutable, Timestamped, id_column
from admitone.core.ids import NotificationId, NotificationPreferenceId, ResendCodeId, UserId


class Notification(Timestamped, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_created", "user_id", "created_at"),
        # A fan-out job that runs twice inserts nothing the second time.
        UniqueConstraint("user_id", "source_key", name="uq_notifications_user_source"),
        Index(
            "ix_notifications_user_unread",
            "user_id",
            postgresql_where=text("read_at IS NULL"),
            sqlite_where=text("read_at IS NULL"),
        ),
    )

    id: Mapped[NotificationId] = id_column()
    user_id: Mapped[UserId] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(String(2000))
    data: Mapped[dict[str, Any] | None]
    read_at: Mapped[datetime | None]
    source_key: Mapped[str | None] = mapped_column(String(40))


class NotificationPreference(Mutable, Base):
    """A user's choice for one kind; no row means the kind's defaults."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "kind", name="uq_notification_preferences"),)

    id: Mapped[NotificationPreferenceId] = id_column()
    user_id: Mapped[UserId] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(60))
    in_app: Mapped[bool]
    email: Mapped[bool]


class ResendCode(Timestamped, Base):
    """A one-time code e-mailed to a buyer who asks for their tickets again (stored hashed)."""

    __tablename__ = "resend_codes"

    id: Mapped[ResendCodeId] = id_column()
    email: Mapped[str] = mapped_column(String(320), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
