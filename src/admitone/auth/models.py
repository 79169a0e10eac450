"""Sign-in sessions (the `sid` of an access token)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Mutable, id_column
from admitone.core.ids import AuthSessionId, UserId


class AuthSession(Mutable, Base):
    __tablename__ = "auth_sessions"

    id: Mapped[AuthSessionId] = id_column()
    user_id: Mapped[UserId] = mapped_column(ForeignKey("users.id"), index=True)
    method: Mapped[str] = mapped_column(String(20))  # otp, magic_link, google, apple
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ip: Mapped[str | None] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
