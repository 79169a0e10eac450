"""The users table: one person, one verified e-mail, many sign-in methods."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Mutable, id_column
from admitone.core.ids import FileId, UserId


class User(Mutable, Base):
    __tablename__ = "users"

    id: Mapped[UserId] = id_column()
    # Lower-cased; NULL once the account is deleted (the row stays for orders' books).
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    email_verified_at: Mapped[datetime | None]
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    avatar_file_id: Mapped[FileId | None] = mapped_column(ForeignKey("files.id"))
    deleted_at: Mapped[datetime | None]
