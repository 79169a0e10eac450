"""Events, their sessions (agenda slots) and ticket tiers with their stock counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from admitone.access.scopes import EventColumns, register_events
from admitone.core.db import Base, MinorUnits, Mutable, id_column
from admitone.core.ids import EventId, EventSessionId, FileId, OrganizationId, TicketTierId

EVENT_STATUSES = ("draft", "published", "cancelled", "ended")
VISIBILITIES = ("public", "unlisted", "private")


class Event(Mutable, Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("status IN ('draft','published','cancelled','ended')", name="status"),
        CheckConstraint("visibility IN ('public','unlisted','private')", name="visibility"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint(
            "reservation_minutes >= 1 AND reservation_minutes <= 1440", name="reservation_minutes"
        ),
        # The `events.end_past` cron scans published events by end time.
        Index("ix_events_status_ends_at", "status", "ends_at"),
    )

    id: Mapped[EventId] = id_column()
    organization_id: Mapped[OrganizationId] = mapped_column(
        ForeignKey("organizations.id"), index=True
    )
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    visibility: Mapped[str] = mapped_column(String(10), default="public")
    timezone: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    venue_name: Mapped[str | None] = mapped_column(String(200))
    venue_address: Mapped[str | None] = mapped_column(String(500))
    online_url: Mapped[str | None] = mapped_column(String(500))
    cover_file_id: Mapped[FileId | None] = mapped_column(ForeignKey("files.id"))
    reservation_minutes: Mapped[int] = mapped_column(default=15)
    # Fixed by the event's first tier (a conditional update): every tier of an event, and so
    # every order, is in one currency.
    currency: Mapped[str | None] = mapped_column(String(3))
    published_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class EventSession(Mutable, Base):
    __tablename__ = "event_sessions"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    id: Mapped[EventSessionId] = id_column()
    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    location: Mapped[str | None] = mapped_column(String(200))


# A tier with no rows here admits to every session of its event.
ticket_tier_sessions = Table(
    "ticket_tier_sessions",
    Base.metadata,
    Column("tier_id", ForeignKey("ticket_tiers.id"), primary_key=True),
    Column("session_id", ForeignKey("event_sessions.id"), primary_key=True),
)


class TicketTier(Mutable, Base):
    """Stock invariant, held by the database: `held_count + sold_count <= capacity`.

    `held_count` counts seats in pending orders, `sold_count` seats in paid ones; both
    change only through conditional updates in the order's transaction.
    """

    __tablename__ = "ticket_tiers"
    __table_args__ = (
        CheckConstraint("held_count >= 0 AND sold_count >= 0", name="counts_positive"),
        CheckConstraint("held_count + sold_count <= capacity", name="within_capacity"),
        CheckConstraint("price_amount >= 0", name="price_positive"),
        CheckConstraint(
            "min_per_order >= 1 AND max_per_order >= min_per_order", name="order_limits"
        ),
        CheckConstraint(
            "sales_start_at IS NULL OR sales_end_at IS NULL OR sales_end_at > sales_start_at",
            name="sales_window",
        ),
    )

    id: Mapped[TicketTierId] = id_column()
    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    price_amount: Mapped[MinorUnits]
    currency: Mapped[str] = mapped_column(String(3))
    capacity: Mapped[int]
    held_count: Mapped[int] = mapped_column(default=0)
    sold_count: Mapped[int] = mapped_column(default=0)
    sales_start_at: Mapped[datetime | None]
    sales_end_at: Mapped[datetime | None]
    min_per_order: Mapped[int] = mapped_column(default=1)
    max_per_order: Mapped[int] = mapped_column(default=10)
    is_hidden: Mapped[bool] = mapped_column(default=False)
    access_code_hash: Mapped[str | None] = mapped_column(String(64))
    is_paused: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)


# What the public pages show (and so what anyone may know exists): published once, and
# listed or reachable by link.
PUBLIC_PAGE = (
    Event.visibility.in_(("public", "unlisted")),
    Event.status.in_(("published", "cancelled", "ended")),
    Event.published_at.is_not(None),
)

# access resolves an event scope to its organization, and tells door staff of a public
# event apart from strangers; it sits below events, so it reads these registered columns.
register_events(
    EventColumns(
        event_id=Event.id,
        event_organization_id=Event.organization_id,
        public_page=PUBLIC_PAGE,
    )
)
