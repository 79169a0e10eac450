"""Passes: one per admitted person, with a short typeable code apart from the id."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Mutable, enum_check, id_column
from admitone.core.ids import EventId, OrderId, OrderItemId, PassId, TicketTierId, UserId


class PassStatus(StrEnum):
    """A pass admits while `valid`; a refund (or a transfer) `revoked` it for good."""

    VALID = "valid"
    REVOKED = "revoked"


class Pass(Mutable, Base):
    __tablename__ = "passes"
    __table_args__ = (
        enum_check("status", PassStatus),
        Index("ix_passes_event_updated", "event_id", "updated_at"),
    )

    id: Mapped[PassId] = id_column()
    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"), index=True)
    order_id: Mapped[OrderId] = mapped_column(ForeignKey("orders.id"), index=True)
    order_item_id: Mapped[OrderItemId] = mapped_column(ForeignKey("order_items.id"))
    tier_id: Mapped[TicketTierId] = mapped_column(ForeignKey("ticket_tiers.id"))
    holder_user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"), index=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    attendee_name: Mapped[str | None] = mapped_column(String(200))
    attendee_email: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[PassStatus] = mapped_column(String(10), default=PassStatus.VALID)
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(200))
