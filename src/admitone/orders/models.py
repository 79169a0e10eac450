"""Orders, their items, add-ons, per-buyer counts, history and inventory-drift reports.

Orders are never deleted; every state change leaves an `order_history` row.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import (
    Base,
    JSONType,
    MinorUnits,
    Mutable,
    Timestamped,
    enum_check,
    id_column,
)
from admitone.core.ids import (
    AddonId,
    EventId,
    InventoryDriftId,
    OrderEventId,
    OrderId,
    OrderItemId,
    TicketTierId,
    UserId,
)


class OrderStatus(StrEnum):
    """`pending -> paid -> (partially_refunded | refunded)`, `pending -> expired | cancelled`."""

    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


# Paid for (some of it may have been refunded): its payment succeeded.
PAID_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)
REFUNDABLE_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)
# Still holding stock (an event's cancellation closes these).
OPEN_STATUSES = (OrderStatus.PENDING, *REFUNDABLE_STATUSES)


class AddonPer(StrEnum):
    """What an add-on's `max_per_order` counts: per ticket of the order, or per order."""

    TICKET = "ticket"
    ORDER = "order"


class Order(Mutable, Base):
    __tablename__ = "orders"
    __table_args__ = (
        enum_check("status", OrderStatus),
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
    status: Mapped[OrderStatus] = mapped_column(String(20))
    total_amount: Mapped[MinorUnits]
    refunded_amount: Mapped[MinorUnits] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3))
    expires_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]  # expired, cancelled or fully refunded
    # The referral code the buyer came with (as typed; the `dp` domain's stats read it).
    referral_code: Mapped[str | None] = mapped_column(String(32), index=True)


class Addon(Mutable, Base):
    """An optional extra sold with an order, with its own stock (same invariant as tiers).

    `per = 'ticket'`: at most one per ticket in the order; `per = 'order'`: at most
    `max_per_order` per order.
    """

    __tablename__ = "addons"
    __table_args__ = (
        CheckConstraint("held_count >= 0 AND sold_count >= 0", name="counts_positive"),
        CheckConstraint("held_count + sold_count <= capacity", name="within_capacity"),
        CheckConstraint("price_amount >= 0", name="price_positive"),
        enum_check("per", AddonPer),
        CheckConstraint("max_per_order >= 1", name="max_positive"),
    )

    id: Mapped[AddonId] = id_column()
    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    price_amount: Mapped[MinorUnits]
    currency: Mapped[str] = mapped_column(String(3))
    capacity: Mapped[int]
    held_count: Mapped[int] = mapped_column(default=0)
    sold_count: Mapped[int] = mapped_column(default=0)
    per: Mapped[AddonPer] = mapped_column(String(8), default=AddonPer.ORDER)
    max_per_order: Mapped[int] = mapped_column(default=1)
    is_active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)


class OrderItem(Timestamped, Base):
    """A line of an order: tickets of one tier, or units of one add-on (exactly one is set)."""

    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "refunded_quantity >= 0 AND refunded_quantity <= quantity",
            name="refunded_within_quantity",
        ),
        CheckConstraint("(tier_id IS NULL) <> (addon_id IS NULL)", name="tier_or_addon"),
    )

    id: Mapped[OrderItemId] = id_column()
    order_id: Mapped[OrderId] = mapped_column(ForeignKey("orders.id"), index=True)
    tier_id: Mapped[TicketTierId | None] = mapped_column(ForeignKey("ticket_tiers.id"), index=True)
    addon_id: Mapped[AddonId | None] = mapped_column(ForeignKey("addons.id"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")  # tier/add-on name at sale
    quantity: Mapped[int]
    unit_amount: Mapped[MinorUnits]
    currency: Mapped[str] = mapped_column(String(3))
    refunded_quantity: Mapped[int] = mapped_column(default=0)
    # [{"name": ..., "email": ...}] per ticket, kept until passes are issued at payment.
    attendees: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)


class OrderBuyerCount(Base):
    """Tickets a buyer holds per tier (pending + paid), kept by a conditional upsert so
    the per-buyer limit holds under concurrency. `buyer_key` is `usr:<id>` or `email:<addr>`."""

    __tablename__ = "order_buyer_counts"
    __table_args__ = (CheckConstraint("quantity >= 0", name="quantity_positive"),)

    tier_id: Mapped[TicketTierId] = mapped_column(ForeignKey("ticket_tiers.id"), primary_key=True)
    buyer_key: Mapped[str] = mapped_column(String(340), primary_key=True)
    quantity: Mapped[int]


class OrderHistory(Timestamped, Base):
    __tablename__ = "order_history"

    id: Mapped[OrderEventId] = id_column()
    order_id: Mapped[OrderId] = mapped_column(ForeignKey("orders.id"), index=True)
    action: Mapped[str] = mapped_column(String(60))  # orders.placed, orders.paid, ...
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor_user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))
    data: Mapped[dict[str, Any] | None]


class InventoryDrift(Timestamped, Base):
    """One counter that disagreed with the rows when `orders.reconcile_inventory` ran."""

    __tablename__ = "inventory_drifts"

    id: Mapped[InventoryDriftId] = id_column()
    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"), index=True)
    tier_id: Mapped[TicketTierId | None] = mapped_column(ForeignKey("ticket_tiers.id"))
    addon_id: Mapped[AddonId | None] = mapped_column(ForeignKey("addons.id"))
    held_counter: Mapped[int]
    held_rows: Mapped[int]
    sold_counter: Mapped[int]
    sold_rows: Mapped[int]
