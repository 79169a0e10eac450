"""The block-list of known-bad images, by perceptual hash."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Timestamped, enum_check, enum_column, id_column
from admitone.core.ids import BlockedImageHashId, UserId


class BlockSource(StrEnum):
    UPLOAD = "upload"  # a moderator uploaded the image
    DP = "dp"  # taken from a generated DP (its photo)


class BlockedImageHash(Timestamped, Base):
    __tablename__ = "blocked_image_hashes"
    __table_args__ = (UniqueConstraint("hash"), enum_check("source", BlockSource))

    id: Mapped[BlockedImageHashId] = id_column()
    # The 64-bit pHash as a signed integer (integrations.moderation.phash).
    hash: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[BlockSource] = enum_column(BlockSource)
    # What it was taken from when not an upload (a DP id), for the audit trail.
    source_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(500))
    added_by: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))
