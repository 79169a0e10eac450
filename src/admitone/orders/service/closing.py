"""Closing pending orders: expiry (the reservation ran out), cancellation (by the buyer,
the organizer, a failed checkout start or the event's cancellation). Both release the
held stock and the buyer's allowance."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import record_audit
from admitone.core.clock import utcnow
from admitone.core.ids import EventId, OrderId, UserId
from admitone.orders import inventory
from admitone.orders.errors import OrderNotCancellable
from admitone.orders.models import OPEN_STATUSES, Order, OrderItem, OrderStatus
from admitone.orders.service import announce
from admitone.orders.service.common import (
    buyer_key,
    get_order,
    items_of,
    stock_of,
    stock_order,
    write_history,
)
from admitone.orders.service.reads import readable
from admitone.settings import Settings


def _release_pending(session: Session, order: Order, items: list[OrderItem]) -> None:
    key = buyer_key(order)
    for item in stock_order(items):
        model, row_id = stock_of(item)
        inventory.release(session, model, row_id, item.quantity, held=True)
        if item.tier_id is not None:
            inventory.uncount_for_buyer(session, item.tier_id, key, item.quantity)


def _close_pending(
    session: Session, order_id: OrderId, to: OrderStatus, extra: Any = None
) -> Order | None:
    """Moves a pending order to `to` with one conditional UPDATE; None if it was not pending."""
    now = utcnow()
    cond = [Order.id == order_id, Order.status == OrderStatus.PENDING]
    if extra is not None:
        cond.append(extra)
    row = session.execute(
        update(Order)
        .where(*cond)
        .values(status=to, closed_at=now, updated_at=now)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return None
    return session.scalars(
        select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    ).one()


def expire_order(session: Session, settings: Settings, order_id: OrderId) -> bool:
    """Expires a pending order whose reservation ran out and releases its stock."""
    order = _close_pending(session, order_id, OrderStatus.EXPIRED, Order.expires_at <= utcnow())
    if order is None:
        return False
    _release_pending(session, order, items_of(session, [order.id])[order.id])
    write_history(session, order, "orders.expired", OrderStatus.PENDING)
    announce.order_event(session, settings, "order.expired", order)
    return True


def due_for_expiry(session: Session, *, limit: int = 500) -> list[OrderId]:
    return list(
        session.scalars(
            select(Order.id)
            .where(Order.status == OrderStatus.PENDING, Order.expires_at <= utcnow())
            .order_by(Order.expires_at)
            .limit(limit)
        )
    )


def cancel_order(
    session: Session,
    settings: Settings,
    order_id: OrderId,
    *,
    actor_user_id: UserId | None,
    reason: str,
) -> Order:
    """Cancels a pending order and releases its stock; cancelling twice is a no-op."""
    order = _close_pending(session, order_id, OrderStatus.CANCELLED)
    if order is None:
        current = get_order(session, order_id)
        if current.status == OrderStatus.CANCELLED:
            return current
        raise OrderNotCancellable(order_status=current.status)
    _release_pending(session, order, items_of(session, [order.id])[order.id])
    write_history(
        session, order, "orders.cancelled", OrderStatus.PENDING, actor_user_id, reason=reason
    )
    announce.order_event(session, settings, "order.cancelled", order)
    return order


def cancel_as(
    session: Session,
    settings: Settings,
    order_id: OrderId,
    *,
    actor_user_id: UserId | None,
    token: str | None,
    reason: str | None,
) -> Order:
    """A caller's cancellation: the buyer (signed in or holding the order token), or
    someone with `order.manage` on the event (audited `order.cancelled`). A stranger gets
    404; anything but a pending order 409 `order_not_cancellable`."""
    order = get_order(session, order_id, for_update=True)
    is_buyer = readable(session, settings, order, actor_user_id, token, Capability.ORDER_MANAGE)
    cancelled = cancel_order(
        session,
        settings,
        order_id,
        actor_user_id=actor_user_id,
        reason=reason or ("buyer" if is_buyer else "organizer"),
    )
    if not is_buyer and actor_user_id is not None:
        record_audit(
            session,
            actor_user_id=actor_user_id,
            action="order.cancelled",
            target_type="order",
            target_id=order_id,
            # Read at the organization's audit route with the rest of its changes.
            organization_id=announce.organization_of(session, order.event_id),
        )
    return cancelled


def open_orders_of_event(session: Session, event_id: EventId) -> list[tuple[OrderId, OrderStatus]]:
    """(order id, status) of the event's pending and paid orders (event cancellation)."""
    return [
        (oid, OrderStatus(status))
        for oid, status in session.execute(
            select(Order.id, Order.status).where(
                Order.event_id == event_id, Order.status.in_(OPEN_STATUSES)
            )
        )
    ]
