"""Orders, their items and their history (every state change leaves an entry)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Mutable, Timestamped, id_column
from admitone.core.ids import EventId, OrderEventId, OrderId, OrderItemId, TicketTierId, UserId

ORDER_STATUSES = ("pending", "paid", "expired", "cancelled", "refunded", "partially_refunded")


class Order(Mutable, Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending','paid','expired','cancelled','refunded','partially_refunded')",
            name="status",
        ),
        CheckConstraint("total_amount >= 0 AND refunded_amount >= 0", name="amounts_positive"),
        CheckConstraint("refunded_amount <= total_amount", name="refund_within_total"),
        Index("ix_orders_event_created", "event_id", "created_at"),
        Index("ix_orders_status_expires", "status", "expires_at"),
    )

    id: Mapped[OrderId] = id_column()
    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"))
    buyer_user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"), index=True)
    buyer_email: Mapped[str] = mapped_column(String(320))
    buyer_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    total_amount: Mapped[int]
    refunded_amount: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3))
    expires_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]  # expired, cancelled or fully refunded


class OrderItem(Timestamped, Base):
    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "refunded_quantity >= 0 AND refunded_quantity <= quantity",
            name="refunded_within_quantity",
        ),
    )

    id: Mapped[OrderItemId] = id_column()
    order_id: Mapped[OrderId] = mapped_column(ForeignKey("orders.id"), index=True)
    tier_id: Mapped[TicketTierId | None] = mapped_column(ForeignKey("ticket_tiers.id"), index=True)
    quantity: Mapped[int]
    unit_amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    refunded_quantity: Mapped[int] = mapped_column(default=0)


class OrderHistory(Timestamped, Base):
    __tablename__ = "order_history"

    id: Mapped[OrderEventId] = id_column()
    order_id: Mapped[OrderId] = mapped_column(ForeignKey("orders.id"), index=True)
    action: Mapped[str] = mapped_column(String(60))  # orders.placed, orders.paid, ...
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor_user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))
    data: Mapped[dict[str, Any] | None]
