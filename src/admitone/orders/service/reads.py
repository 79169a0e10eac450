"""Reading orders: one with its lines and passes, a buyer's and an event's lists (keyset
pages, newest first), who may read an order, and the stock drift report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.service import Scope, require_capability
from admitone.core.ids import EventId, OrderId, UserId
from admitone.core.pagination import Keyset, SortKey
from admitone.events.models import Event, TicketTier
from admitone.orders import inventory
from admitone.orders.errors import OrderNotFound
from admitone.orders.models import Order, OrderStatus
from admitone.orders.service.common import OrderDetails, get_order, items_of, token_matches
from admitone.passes import service as passes
from admitone.settings import Settings

# Newest first; the id breaks ties between orders of the same instant.
NEWEST = Keyset(
    SortKey(Order.__table__.c.created_at, datetime, descending=True),
    SortKey(Order.__table__.c.id, str, descending=True),
)


def order_details(session: Session, order_id: OrderId) -> OrderDetails:
    order = get_order(session, order_id)
    items = items_of(session, [order.id])[order.id]
    found = passes.passes_for_order(session, order.id)
    title = session.scalar(select(Event.title).where(Event.id == order.event_id))
    return OrderDetails(order, items, found, title)


def readable(
    session: Session,
    settings: Settings,
    order: Order,
    actor_user_id: UserId | None,
    token: str | None,
    capability: Capability = Capability.ORDER_READ,
) -> bool:
    """True when the caller is the buyer (signed in, or holding the order token); else
    the caller must hold `capability` on the event (False). A stranger gets 404."""
    if actor_user_id is not None and order.buyer_user_id == actor_user_id:
        return True
    if token_matches(settings, order.id, token):
        return True
    if actor_user_id is None:
        raise OrderNotFound()
    try:
        require_capability(session, actor_user_id, capability, Scope.event(order.event_id))
    except ScopeNotFound as exc:
        raise OrderNotFound() from exc
    return False


def readable_order(
    session: Session,
    settings: Settings,
    order_id: OrderId,
    actor_user_id: UserId | None,
    token: str | None,
) -> Order:
    """The order if the caller may read it (see `readable`), else 404/403."""
    order = get_order(session, order_id)
    readable(session, settings, order, actor_user_id, token)
    return order


def _with_items(session: Session, found: list[Order]) -> list[OrderDetails]:
    lines = items_of(session, [o.id for o in found])
    return [OrderDetails(o, lines[o.id]) for o in found]


def orders_of_buyer(
    session: Session, user_id: UserId, *, limit: int, cursor: str | None
) -> tuple[list[OrderDetails], str | None]:
    """A page of the buyer's orders, newest first, and the next page's cursor."""
    found, next_cursor = NEWEST.page(
        session, select(Order).where(Order.buyer_user_id == user_id), limit=limit, cursor=cursor
    )
    return _with_items(session, found), next_cursor


def _event_query(event_id: EventId, status: OrderStatus | None, search: str | None) -> Select[Any]:
    query = select(Order).where(Order.event_id == event_id)
    if status:
        query = query.where(Order.status == status)
    if search:
        needle = search.strip().lower()
        like = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                func.lower(Order.buyer_email).like(like, escape="\\"),
                func.lower(func.coalesce(Order.buyer_name, "")).like(like, escape="\\"),
                func.lower(Order.id).like(needle.replace("%", "") + "%"),
            )
        )
    return query


def orders_of_event(
    session: Session,
    actor_user_id: UserId,
    event_id: EventId,
    *,
    status: OrderStatus | None = None,
    search: str | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[list[OrderDetails], str | None]:
    """A page of an event's orders, newest first (`order.read` on the event); `search`
    matches the buyer's e-mail or name (substring, case-insensitive) or an order id
    prefix."""
    require_capability(session, actor_user_id, Capability.ORDER_READ, Scope.event(event_id))
    found, next_cursor = NEWEST.page(
        session, _event_query(event_id, status, search), limit=limit, cursor=cursor
    )
    return _with_items(session, found), next_cursor


def all_orders_of_event(session: Session, event_id: EventId) -> list[OrderDetails]:
    """Every order of the event, newest first (the export; no capability check here)."""
    query = _event_query(event_id, None, None).order_by(*NEWEST.order_by())
    return _with_items(session, list(session.scalars(query)))


def drift_report(
    session: Session, actor_user_id: UserId, event_id: EventId
) -> list[dict[str, Any]]:
    """Stock counters of the event that disagree with the order rows (`order.read`)."""
    require_capability(session, actor_user_id, Capability.ORDER_READ, Scope.event(event_id))
    return [d.as_dict() for d in inventory.find_drift(session, event_id)]


def event_sales(session: Session, event_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per event: `sold` (tickets in paid orders, the tiers' `sold_count`) and `revenue`
    (`{currency: minor units}` paid minus refunded), for an organizer's overview (the caller
    has checked `event.read` on each event)."""
    if not event_ids:
        return {}
    out: dict[str, dict[str, Any]] = {e: {"sold": 0, "revenue": {}} for e in event_ids}
    for event_id, sold in session.execute(
        select(TicketTier.event_id, func.sum(TicketTier.sold_count))
        .where(TicketTier.event_id.in_(event_ids))
        .group_by(TicketTier.event_id)
    ):
        out[event_id]["sold"] = int(sold or 0)
    for event_id, currency, amount in session.execute(
        select(
            Order.event_id,
            Order.currency,
            func.sum(Order.total_amount - Order.refunded_amount),
        )
        .where(
            Order.event_id.in_(event_ids),
            Order.status.in_(
                (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)
            ),
        )
        .group_by(Order.event_id, Order.currency)
    ):
        out[event_id]["revenue"][currency] = int(amount or 0)
    return out
