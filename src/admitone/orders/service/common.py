"""What every orders use case shares: the request and result shapes, the buyer key, the
order token, the history row, and reading an order with its lines."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.db import publish
from admitone.core.ids import AddonId, EventId, OrderEventId, OrderId, TicketTierId, UserId
from admitone.core.inserts import insert_values
from admitone.events.models import TicketTier
from admitone.orders import inventory
from admitone.orders.errors import OrderNotFound
from admitone.orders.models import Addon, Order, OrderHistory, OrderItem, OrderStatus
from admitone.passes.models import Pass
from admitone.settings import Settings

# --- requests and results ---------------------------------------------------------------


@dataclass(frozen=True)
class TicketLine:
    tier_id: TicketTierId
    quantity: int


@dataclass(frozen=True)
class AddonLine:
    addon_id: AddonId
    quantity: int


@dataclass(frozen=True)
class Attendee:
    name: str
    email: str | None = None


@dataclass(frozen=True)
class OrderRequest:
    event_id: EventId
    items: Sequence[TicketLine]
    buyer_email: str
    buyer_name: str | None = None
    buyer_user_id: UserId | None = None
    addons: Sequence[AddonLine] = ()
    attendees: Sequence[Attendee] | None = None
    access_code: str | None = None
    referral_code: str | None = None


@dataclass
class OrderDetails:
    order: Order
    items: list[OrderItem]
    passes: list[Pass] = field(default_factory=list)
    event_title: str | None = None


def order_topic(order_id: OrderId) -> str:
    return f"order:{order_id}"


def buyer_key(order: Order) -> str:
    """Who the per-buyer limit counts: the signed-in user, else the e-mail address."""
    if order.buyer_user_id:
        return f"usr:{order.buyer_user_id}"
    return f"email:{order.buyer_email.strip().lower()}"


def order_token(settings: Settings, order_id: OrderId) -> str:
    """The secret that lets an anonymous buyer read their order (returned at creation and
    in e-mail links). Derived, not stored: HMAC of the id under the server secret."""
    return hmac.new(settings.secret, f"order-token:{order_id}".encode(), "sha256").hexdigest()[:40]


def token_matches(settings: Settings, order_id: OrderId, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(order_token(settings, order_id), token)


def write_history(
    session: Session,
    order: Order,
    action: str,
    from_status: OrderStatus | None,
    actor_user_id: UserId | None = None,
    **data: Any,
) -> None:
    """The `order_history` row of a state change (or a note), and a realtime nudge."""
    insert_values(
        session,
        OrderHistory,
        {
            "id": OrderEventId.new(),
            "order_id": order.id,
            "action": action,
            "from_status": from_status,
            "to_status": order.status,
            "actor_user_id": actor_user_id,
            "data": data or None,
            "created_at": utcnow(),
        },
    )
    publish(session, order_topic(order.id))


def get_order(session: Session, order_id: OrderId, *, for_update: bool = False) -> Order:
    query = select(Order).where(Order.id == order_id)
    if for_update:
        query = query.with_for_update()
    order = session.scalars(query).one_or_none()
    if order is None:
        raise OrderNotFound()
    return order


def items_of(session: Session, order_ids: Sequence[OrderId]) -> dict[OrderId, list[OrderItem]]:
    out: dict[OrderId, list[OrderItem]] = {oid: [] for oid in order_ids}
    if not order_ids:
        return out
    for item in session.scalars(
        select(OrderItem)
        .where(OrderItem.order_id.in_(order_ids))
        .order_by(OrderItem.order_id, OrderItem.created_at, OrderItem.id)
    ):
        out[item.order_id].append(item)
    # Tickets before add-ons, in the order they were bought.
    for lines in out.values():
        lines.sort(key=lambda i: (i.tier_id is None,))
    return out


def stock_of(item: OrderItem) -> tuple[inventory.Stock, inventory.StockId]:
    if item.tier_id is not None:
        return TicketTier, item.tier_id
    assert item.addon_id is not None
    return Addon, item.addon_id


def stock_order(items: list[OrderItem]) -> list[OrderItem]:
    """Tiers then add-ons, each by id: the lock order every transaction uses."""
    return sorted(items, key=lambda i: (i.tier_id is None, i.tier_id or i.addon_id or ""))
