"""Checkpoints (check-in lists), admitted passages and the log of every scan.

Exactly-once is a unique key on `check_ins (pass_id, checkpoint_id, sequence)`; every scan,
admitted or refused, leaves a `check_in_scans` row with its answer, which is also what makes
a retried `scan_id` get the same answer.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, JSONType, Mutable, Timestamped, enum_check, id_column
from admitone.core.ids import (
    CheckInId,
    CheckInScanId,
    CheckpointId,
    EventId,
    EventSessionId,
    PassId,
    TicketTierId,
    UserId,
)
from admitone.events.session_uses import SessionUse, register_session_use


class ScanResult(StrEnum):
    """What the door is told about a pass: the one list (CHECK, schemas, services, OpenAPI)."""

    ACCEPTED = "accepted"
    ALREADY_CHECKED_IN = "already_checked_in"
    INVALID_CODE = "invalid_code"
    REVOKED = "revoked"
    WRONG_EVENT = "wrong_event"
    NOT_ALLOWED_HERE = "not_allowed_here"
    OUTSIDE_WINDOW = "outside_window"
    UNPAID = "unpaid"


class Direction(StrEnum):
    """A passage through a checkpoint: in, or out at a re-entry checkpoint."""

    IN = "in"
    OUT = "out"


SCAN_RESULTS = tuple(ScanResult)


class Checkpoint(Mutable, Base):
    """A check-in list: which tiers (None: all) and which session it admits to, when it is
    open, and whether people may leave and come back (then scans alternate in and out).
    At most one default checkpoint per event (partial unique index), created on first use."""

    __tablename__ = "checkpoints"
    __table_args__ = (
        Index(
            "uq_checkpoints_default_per_event",
            "event_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
        CheckConstraint(
            "opens_at IS NULL OR closes_at IS NULL OR closes_at > opens_at", name="window"
        ),
    )

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
    simultaneous scans admit one person once. An undone check-in keeps its row
    (`undone_at`), and the next scan takes the next sequence number.
    """

    __tablename__ = "check_ins"
    __table_args__ = (
        UniqueConstraint("pass_id", "checkpoint_id", "sequence"),
        enum_check("direction", Direction),
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


class CheckInScan(Timestamped, Base):
    """One scan as the door saw it, with the answer given (`response`), whatever the result.

    `flags` name what the door team should look at (then `needs_review`):
    `revoked_since_scan` (an offline scan admitted a pass that was revoked later),
    `conflict` (an offline scan that met an earlier one), `superseded_by_earlier_offline_scan`,
    `device_clock_ahead`."""

    __tablename__ = "check_in_scans"
    __table_args__ = (
        Index("ix_check_in_scans_event_created", "event_id", "created_at"),
        enum_check("result", ScanResult),
    )

    id: Mapped[CheckInScanId] = id_column()
    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"))
    checkpoint_id: Mapped[CheckpointId | None] = mapped_column(ForeignKey("checkpoints.id"))
    pass_id: Mapped[PassId | None] = mapped_column(ForeignKey("passes.id"), index=True)
    check_in_id: Mapped[CheckInId | None] = mapped_column(ForeignKey("check_ins.id"))
    result: Mapped[str] = mapped_column(String(20))
    scan_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    device_id: Mapped[str | None] = mapped_column(String(100))
    scanned_by_user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))
    scanned_at: Mapped[datetime]
    is_offline: Mapped[bool] = mapped_column(default=False)
    needs_review: Mapped[bool] = mapped_column(default=False)
    flags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    response: Mapped[dict[str, Any]]


# Deleting an agenda session refuses while a checkpoint points at it (events sits below
# checkins, so it reads this registered table: events/session_uses.py).
register_session_use(
    SessionUse(
        key="checkpoint_ids",
        id=Checkpoint.id,
        event_id=Checkpoint.event_id,
        session_id=Checkpoint.session_id,
    )
)
