"""The order as its buyer or organizer reads it (with its payment, passes and refunds),
the lists of orders, and the cancellation that answers with the order."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from admitone.checkout.views import full_view, page_view
from admitone.core.ids import EventId, OrderId, UserId
from admitone.orders import service as orders
from admitone.orders.models import OrderStatus
from admitone.settings import Settings


def read_order(
    session: Session,
    settings: Settings,
    order_id: OrderId,
    actor_user_id: UserId | None,
    token: str | None,
) -> dict[str, Any]:
    """`OrderOut` for the buyer (signed in or with the order token) or an organizer with
    `order.read`; 404 for anyone else."""
    orders.readable_order(session, settings, order_id, actor_user_id, token)
    return full_view(session, settings, order_id)


def check_readable(
    session: Session,
    settings: Settings,
    order_id: OrderId,
    actor_user_id: UserId | None,
    token: str | None,
) -> None:
    """Raises as `read_order` would (the order stream checks once, then streams)."""
    orders.readable_order(session, settings, order_id, actor_user_id, token)


def read_order_by_id(session: Session, settings: Settings, order_id: OrderId) -> dict[str, Any]:
    """`OrderOut` with no access check (after `check_readable`)."""
    return full_view(session, settings, order_id)


def buyer_orders(
    session: Session, settings: Settings, user_id: UserId, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """A page (`Page[OrderOut]`) of the signed-in buyer's orders, newest first."""
    found, next_cursor = orders.orders_of_buyer(session, user_id, limit=limit, cursor=cursor)
    return page_view(session, settings, found, next_cursor)


def event_orders(
    session: Session,
    settings: Settings,
    actor_user_id: UserId,
    event_id: EventId,
    *,
    status: OrderStatus | None,
    search: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """A page (`Page[OrderOut]`) of an event's orders for its organizer (`order.read`)."""
    found, next_cursor = orders.orders_of_event(
        session, actor_user_id, event_id, status=status, search=search, limit=limit, cursor=cursor
    )
    return page_view(session, settings, found, next_cursor)


def cancel_order(
    session: Session,
    settings: Settings,
    order_id: OrderId,
    actor_user_id: UserId | None,
    token: str | None,
    reason: str | None,
) -> dict[str, Any]:
    """Cancels a pending order (buyer or `order.manage`) and answers with it (`OrderOut`)."""
    orders.cancel_as(
        session, settings, order_id, actor_user_id=actor_user_id, token=token, reason=reason
    )
    return full_view(session, settings, order_id)
