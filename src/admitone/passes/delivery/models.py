"""Per-event pass settings (transfer cut-off, badge layout), per-tier transfer cut-offs,
badge runs and badge prints."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Mutable, Timestamped, enum_check, enum_column, id_column
from admitone.core.ids import BadgePrintId, BadgeRunId, EventId, PassId, TicketTierId, UserId


class EventPassSettings(Mutable, Base):
    """What an organizer set for an event's passes; an event without a row has the
    defaults: transfers open until the event starts, the standard badge layout."""

    __tablename__ = "event_pass_settings"
    __table_args__ = (
        CheckConstraint(
            "transfer_cutoff_minutes >= 0 AND transfer_cutoff_minutes <= 525600",
            name="transfer_cutoff_minutes",
        ),
    )

    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"), primary_key=True)
    transfers_enabled: Mapped[bool] = mapped_column(default=True)
    # Transfers close this many minutes before the event starts.
    transfer_cutoff_minutes: Mapped[int] = mapped_column(default=0)
    badge_layout: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class TierPassSettings(Mutable, Base):
    """A tier's own transfer cut-off, overriding its event's (`EventPassSettings`): e.g.
    speaker or VIP passes that stop being transferable a week before, while the others may
    change hands until the doors open. No row: the event's rule."""

    __tablename__ = "tier_pass_settings"
    __table_args__ = (
        CheckConstraint(
            "transfer_cutoff_minutes >= 0 AND transfer_cutoff_minutes <= 525600",
            name="tier_transfer_cutoff_minutes",
        ),
    )

    tier_id: Mapped[TicketTierId] = mapped_column(ForeignKey("ticket_tiers.id"), primary_key=True)
    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"), index=True)
    # Transfers of this tier's passes close this many minutes before the event starts.
    transfer_cutoff_minutes: Mapped[int] = mapped_column()


class BadgeRunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class BadgeRun(Mutable, Base):
    """A whole event's badges printed as one PDF by a job, with its progress."""

    __tablename__ = "badge_runs"
    __table_args__ = (enum_check("status", BadgeRunStatus),)

    id: Mapped[BadgeRunId] = id_column()
    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"), index=True)
    requested_by: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = enum_column(BadgeRunStatus, default=BadgeRunStatus.QUEUED.value)
    tier_ids: Mapped[list[str] | None] = mapped_column(JSON)
    layout: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    file_key: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]


class BadgePrint(Timestamped, Base):
    """One printed badge: its own record, never a check-in; printing again adds another."""

    __tablename__ = "badge_prints"
    __table_args__ = (Index("ix_badge_prints_pass_created", "pass_id", "created_at"),)

    id: Mapped[BadgePrintId] = id_column()
    pass_id: Mapped[PassId] = mapped_column(ForeignKey("passes.id"))
    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"), index=True)
    run_id: Mapped[BadgeRunId | None] = mapped_column(ForeignKey("badge_runs.id"), index=True)
    printed_by: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))
