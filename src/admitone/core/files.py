"""The files table: metadata of stored blobs (bytes live in the storage integration)."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Timestamped, id_column
from admitone.core.ids import FileId


class File(Timestamped, Base):
    __tablename__ = "files"

    id: Mapped[FileId] = id_column()
    storage_key: Mapped[str] = mapped_column(String(300), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    owner_user_id: Mapped[str | None] = mapped_column(String(32))
