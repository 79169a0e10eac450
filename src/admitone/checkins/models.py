"""Checkpoints (check-in lists) and the scan log; exactly-once is a unique key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, JSONType, Mutable, Timestamped, id_column
from admitone.core.ids import (
    CheckInId,
    CheckpointId,
    EventId,
    EventSessionId,
    PassId,
    TicketTierId,
    UserId,
)


class Checkpoint(Mutable, Base):
    __tablename__ = "checkpoints"

    id: Mapped[CheckpointId] = id_column()
    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    is_default: Mapped[bool] = mapped_column(default=False)
    tier_ids: Mapped[list[TicketTierId] | None] = mapped_column(JSONType)  # None: all tiers
    session_id: Mapped[EventSessionId | None] = mapped_column(ForeignKey("event_sessions.id"))
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]
    allows_reentry: Mapped[bool] = mapped_column(default=False)


class CheckIn(Timestamped, Base):
    """An admitted entry (or exit, where re-entry is allowed).

    `sequence` numbers a pass's passages through a checkpoint: 1 is the first entry, 2 its
    exit, 3 the next entry... The unique (pass, checkpoint, sequence) key is what makes two
    simultaneous scans admit one person once.
    """

    __tablename__ = "check_ins"
    __table_args__ = (
        UniqueConstraint("pass_id", "checkpoint_id", "sequence"),
        CheckConstraint("direction IN ('in','out')", name="direction"),
        Index("ix_check_ins_event_checkpoint", "event_id", "checkpoint_id"),
    )

    id: Mapped[CheckInId] = id_column()
    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"))
    pass_id: Mapped[PassId] = mapped_column(ForeignKey("passes.id"))
    checkpoint_id: Mapped[CheckpointId] = mapped_column(ForeignKey("checkpoints.id"))
    sequence: Mapped[int] = mapped_column(default=1)
    direction: Mapped[str] = mapped_column(String(3), default="in")
    scanned_at: Mapped[datetime]
    device_id: Mapped[str | None] = mapped_column(String(100))
    scan_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    scanned_by_user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))
    is_offline: Mapped[bool] = mapped_column(default=False)
    undone_at: Mapped[datetime | None]
