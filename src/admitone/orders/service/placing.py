"""Placing an order: the rules, the rows, then the stock reservation (last, so the hot
tier row is locked as briefly as possible). A free order is paid at once: its passes are
issued and its confirmation queued in the same transaction."""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.db import DriverStatement
from admitone.core.ids import AddonId, EventId, OrderId, OrderItemId, TicketTierId
from admitone.core.inserts import insert_rows
from admitone.emails.service import queue_email, seal
from admitone.events.models import Event, TicketTier
from admitone.events.service import hash_access_code
from admitone.orders import inventory
from admitone.orders.errors import (
    AddonNotFound,
    AddonSoldOut,
    AttendeesMismatch,
    EmptyOrder,
    EventNotFound,
    EventNotOnSale,
    InvalidAccessCode,
    LimitExceeded,
    MixedCurrencies,
    SalesClosed,
    SalesPaused,
    TierNotFound,
    TierSoldOut,
)
from admitone.orders.models import Addon, AddonPer, Order, OrderItem, OrderStatus
from admitone.orders.service.common import (
    Attendee,
    OrderDetails,
    OrderRequest,
    buyer_key,
    order_token,
    write_history,
)
from admitone.passes import service as passes
from admitone.passes.models import Pass
from admitone.settings import Settings

_ev = Event.__table__.c
_EVENT_FOR_SALE = select(_ev.id, _ev.status, _ev.ends_at, _ev.title, _ev.reservation_minutes).where(
    _ev.id == bindparam("event_id")
)
_tc = TicketTier.__table__.c


@functools.cache
def _tiers_for_sale(n: int) -> DriverStatement:
    """The `n` tiers of an order with their event, `t0`..`t{n-1}` bound: one statement per
    number of distinct tiers (an order names at most 20), so each runs on the driver."""
    return DriverStatement(
        select(
            _tc.id,
            _tc.name,
            _tc.price_amount,
            _tc.currency,
            _tc.is_hidden,
            _tc.access_code_hash,
            _tc.is_paused,
            _tc.sales_start_at,
            _tc.sales_end_at,
            _tc.min_per_order,
            _tc.max_per_order,
            _ev.status.label("event_status"),
            _ev.ends_at.label("event_ends_at"),
            _ev.title.label("event_title"),
            _ev.reservation_minutes,
        ).where(
            _tc.id.in_([bindparam(f"t{i}") for i in range(n)]),
            _tc.event_id == bindparam("event_id"),
            _ev.id == _tc.event_id,
        )
    )


@dataclass(frozen=True)
class _EventForSale:
    id: EventId
    status: str
    ends_at: datetime
    title: str
    reservation_minutes: int


@dataclass
class PreparedOrder:
    """An order whose rows are written but whose stock is not reserved yet."""

    details: OrderDetails
    tiers: dict[TicketTierId, Any]  # rows of _tiers_for_sale
    wanted: dict[TicketTierId, int]
    addon_wanted: dict[AddonId, int]
    now: datetime

    @property
    def order(self) -> Order:
        return self.details.order


def place_order(session: Session, settings: Settings, req: OrderRequest) -> OrderDetails:
    """Creates the order and reserves its stock in the caller's transaction.

    A free order is `paid` at once (seats sold, passes issued, confirmation queued); any
    other is `pending` until its payment arrives or `expires_at` passes. Raises every
    refusal in `orders.errors`; nothing is written when one is raised. Callers that add
    rows of their own (checkout opens the payment) use `prepare_order`, then their
    inserts, then `reserve_stock`, so the stock rows stay locked for the shortest time.
    """
    return reserve_stock(session, prepare_order(session, settings, req))


def prepare_order(session: Session, settings: Settings, req: OrderRequest) -> PreparedOrder:
    """Checks every rule and writes the order, its items and history; reserves nothing."""
    now = utcnow()
    wanted = _tickets_wanted(req)
    event, tiers = _event_and_tiers(session, req.event_id, wanted, now)
    code_hash = hash_access_code(settings.secret, req.access_code) if req.access_code else None
    for tier_id, quantity in wanted.items():
        _check_tier(tiers[tier_id], quantity, code_hash, now)
    tickets = sum(wanted.values())
    addon_wanted = _addons_wanted(req)
    addons = _addons_for_sale(session, event.id, addon_wanted, tickets)
    currency = _one_currency(tiers, addons)
    attendees = _attendees(req, tickets)

    order_id = OrderId.new()
    items = _ticket_lines(order_id, wanted, tiers, attendees, currency, now) + _addon_lines(
        order_id, addon_wanted, addons, currency, now
    )
    order = _new_order(order_id, req, event, items, currency, now)
    # Core INSERTs of the rows the objects describe (the objects stay transient: they are
    # what the caller renders). Cheaper than the unit of work on the hot path.
    insert_rows(session, [order])
    insert_rows(session, items)
    free = order.status == OrderStatus.PAID
    write_history(
        session, order, "orders.placed", None, req.buyer_user_id, total=order.total_amount
    )
    if free:
        write_history(
            session, order, "orders.paid", OrderStatus.PENDING, req.buyer_user_id, free=True
        )
    _count_for_buyer(session, order, wanted, tiers)

    details = OrderDetails(order, items, event_title=event.title)
    if free:
        details.passes = issue_passes(session, order, items)
        queue_confirmation(session, settings, details)
    return PreparedOrder(details, tiers, wanted, addon_wanted, now)


# --- the steps of prepare_order -----------------------------------------------------------


def _tickets_wanted(req: OrderRequest) -> dict[TicketTierId, int]:
    """Tickets per tier, in the buyer's order of lines (attendees follow it)."""
    wanted: dict[TicketTierId, int] = {}
    for line in req.items:
        wanted[line.tier_id] = wanted.get(line.tier_id, 0) + line.quantity
    if not wanted:
        raise EmptyOrder()
    return wanted


def _event_and_tiers(
    session: Session, event_id: EventId, wanted: dict[TicketTierId, int], now: datetime
) -> tuple[Any, dict[TicketTierId, Any]]:
    """The event on sale and every wanted tier of it. One statement built once reads the
    tiers with their event (Core rows, not ORM entities: the on-sale hot path); the event
    alone is read only to explain a miss."""
    params = {f"t{i}": tier_id for i, tier_id in enumerate(wanted)}
    rows = _tiers_for_sale(len(wanted)).rows(session, {**params, "event_id": event_id})
    tiers = {t.id: t for t in rows}
    first = next(iter(tiers.values()), None)
    event = (
        _EventForSale(
            event_id,
            first.event_status,
            first.event_ends_at,
            first.event_title,
            first.reservation_minutes,
        )
        if first is not None
        else session.execute(_EVENT_FOR_SALE, {"event_id": event_id}).one_or_none()
    )
    if event is None:
        raise EventNotFound()
    if event.status != "published" or event.ends_at <= now:
        raise EventNotOnSale()
    for tier_id in wanted:
        if tier_id not in tiers:
            raise TierNotFound(tier_id=tier_id)
    return event, tiers


def _check_tier(tier: Any, quantity: int, code_hash: str | None, now: datetime) -> None:
    if tier.is_hidden:
        if code_hash is None or tier.access_code_hash is None:
            raise TierNotFound(tier_id=tier.id)
        if not hmac.compare_digest(code_hash, tier.access_code_hash):
            raise InvalidAccessCode(tier_id=tier.id)
    if tier.is_paused:
        raise SalesPaused(tier_id=tier.id)
    if tier.sales_start_at is not None and now < tier.sales_start_at:
        raise SalesClosed("Sales for this tier have not started yet.", tier_id=tier.id)
    if tier.sales_end_at is not None and now >= tier.sales_end_at:
        raise SalesClosed("Sales for this tier have ended.", tier_id=tier.id)
    if quantity < tier.min_per_order or quantity > tier.max_per_order:
        raise LimitExceeded(
            f"Buy between {tier.min_per_order} and {tier.max_per_order} tickets of this tier.",
            tier_id=tier.id,
            min_per_order=tier.min_per_order,
            max_per_order=tier.max_per_order,
        )


def _addons_wanted(req: OrderRequest) -> dict[AddonId, int]:
    wanted: dict[AddonId, int] = {}
    for a in req.addons:
        wanted[a.addon_id] = wanted.get(a.addon_id, 0) + a.quantity
    return wanted


def _addons_for_sale(
    session: Session, event_id: EventId, wanted: dict[AddonId, int], tickets: int
) -> dict[AddonId, Addon]:
    """The wanted active add-ons of the event, each within its per-order limit."""
    if not wanted:
        return {}
    addons = {
        a.id: a
        for a in session.scalars(
            select(Addon).where(Addon.id.in_(wanted), Addon.event_id == event_id, Addon.is_active)
        )
    }
    for addon_id, quantity in wanted.items():
        addon = addons.get(addon_id)
        if addon is None:
            raise AddonNotFound(addon_id=addon_id)
        limit = addon.max_per_order * (tickets if addon.per == AddonPer.TICKET else 1)
        if quantity > limit:
            raise LimitExceeded(
                f"At most {limit} of this add-on fit this order.",
                addon_id=addon_id,
                max_quantity=limit,
            )
    return addons


def _one_currency(tiers: dict[TicketTierId, Any], addons: dict[AddonId, Addon]) -> str:
    currencies = {t.currency for t in tiers.values()} | {a.currency for a in addons.values()}
    if len(currencies) != 1:
        raise MixedCurrencies()
    currency: str = currencies.pop()
    return currency


def _attendees(req: OrderRequest, tickets: int) -> list[Attendee] | None:
    attendees = list(req.attendees) if req.attendees else None
    if attendees is not None and len(attendees) != tickets:
        raise AttendeesMismatch(expected=tickets, given=len(attendees))
    return attendees


def _ticket_lines(
    order_id: OrderId,
    wanted: dict[TicketTierId, int],
    tiers: dict[TicketTierId, Any],
    attendees: list[Attendee] | None,
    currency: str,
    now: datetime,
) -> list[OrderItem]:
    """One line per tier, in the buyer's order; each carries its attendees."""
    items: list[OrderItem] = []
    cursor = 0
    for tier_id, quantity in wanted.items():
        tier = tiers[tier_id]
        people = None
        if attendees is not None:
            people = [
                {"name": a.name, "email": a.email} for a in attendees[cursor : cursor + quantity]
            ]
            cursor += quantity
        items.append(
            OrderItem(
                id=OrderItemId.new(),
                order_id=order_id,
                tier_id=tier_id,
                name=tier.name,
                quantity=quantity,
                unit_amount=tier.price_amount,
                currency=currency,
                refunded_quantity=0,
                attendees=people,
                created_at=now,
            )
        )
    return items


def _addon_lines(
    order_id: OrderId,
    wanted: dict[AddonId, int],
    addons: dict[AddonId, Addon],
    currency: str,
    now: datetime,
) -> list[OrderItem]:
    return [
        OrderItem(
            id=OrderItemId.new(),
            order_id=order_id,
            addon_id=addon_id,
            name=addons[addon_id].name,
            quantity=quantity,
            unit_amount=addons[addon_id].price_amount,
            currency=currency,
            refunded_quantity=0,
            created_at=now,
        )
        for addon_id, quantity in wanted.items()
    ]


def _new_order(
    order_id: OrderId,
    req: OrderRequest,
    event: Any,
    items: list[OrderItem],
    currency: str,
    now: datetime,
) -> Order:
    """The order row: paid at once when free, else pending until `expires_at`."""
    total = sum(i.unit_amount * i.quantity for i in items)
    free = total == 0
    return Order(
        id=order_id,
        event_id=event.id,
        buyer_user_id=req.buyer_user_id,
        buyer_email=req.buyer_email.strip(),
        buyer_name=req.buyer_name,
        status=OrderStatus.PAID if free else OrderStatus.PENDING,
        total_amount=total,
        refunded_amount=0,
        currency=currency,
        expires_at=None if free else now + timedelta(minutes=event.reservation_minutes),
        paid_at=now if free else None,
        referral_code=req.referral_code,
        created_at=now,
        updated_at=now,
    )


def _count_for_buyer(
    session: Session, order: Order, wanted: dict[TicketTierId, int], tiers: dict[TicketTierId, Any]
) -> None:
    """The per-buyer limit, kept by a conditional upsert per tier (in id order)."""
    key = buyer_key(order)
    for tier_id in sorted(wanted):
        tier = tiers[tier_id]
        limit = tier.max_per_order
        if not inventory.count_for_buyer(session, tier_id, key, wanted[tier_id], limit):
            raise LimitExceeded(
                f"You can hold at most {tier.max_per_order} tickets of this tier.",
                tier_id=tier_id,
                max_per_buyer=tier.max_per_order,
            )


# --- the reservation ----------------------------------------------------------------------


def reserve_stock(session: Session, prepared: PreparedOrder) -> OrderDetails:
    """The conditional UPDATEs on the (possibly hot) stock rows, in id order: meant as the
    last statements of the transaction. Raises `TierSoldOut`, `AddonSoldOut`, ... (the
    caller's transaction then rolls back every row `prepare_order` wrote)."""
    into = "sold" if prepared.order.status == OrderStatus.PAID else "held"
    now = prepared.now
    for tier_id in sorted(prepared.wanted):
        if not inventory.reserve(
            session, TicketTier, tier_id, prepared.wanted[tier_id], into=into, now=now
        ):
            _refuse_tier(session, tier_id, now)
    for addon_id in sorted(prepared.addon_wanted):
        if not inventory.reserve(
            session, Addon, addon_id, prepared.addon_wanted[addon_id], into=into, now=now
        ):
            raise AddonSoldOut(addon_id=addon_id)
    return prepared.details


def _refuse_tier(session: Session, tier_id: TicketTierId, now: datetime) -> None:
    """The reservation matched no row: say why, from the row as it is now."""
    table = TicketTier.__table__
    tier = session.execute(select(table).where(table.c.id == tier_id)).one()
    if tier.is_paused:
        raise SalesPaused(tier_id=tier.id)
    if (tier.sales_start_at is not None and now < tier.sales_start_at) or (
        tier.sales_end_at is not None and now >= tier.sales_end_at
    ):
        raise SalesClosed(tier_id=tier.id)
    available = max(0, tier.capacity - tier.held_count - tier.sold_count)
    raise TierSoldOut(
        f"Only {available} tickets left in this tier." if available else None,
        tier_id=tier.id,
        available=available,
    )


# --- a paid order's passes and confirmation -----------------------------------------------


def issue_passes(session: Session, order: Order, items: list[OrderItem]) -> list[Pass]:
    requests: list[passes.PassRequest] = []
    for item in items:
        if item.tier_id is None:
            continue
        people = item.attendees or []
        for n in range(item.quantity - item.refunded_quantity):
            person = people[n] if n < len(people) else {}
            requests.append(
                passes.PassRequest(
                    order_item_id=item.id,
                    tier_id=item.tier_id,
                    attendee_name=person.get("name") or order.buyer_name,
                    attendee_email=person.get("email") or order.buyer_email,
                )
            )
    if not requests:
        return []
    return passes.issue_passes(
        session,
        event_id=order.event_id,
        order_id=order.id,
        holder_user_id=order.buyer_user_id,
        requests=requests,
    )


def _money(amount: int, currency: str) -> str:
    return f"{currency} {amount / 100:,.2f}"


def queue_confirmation(
    session: Session, settings: Settings, details: OrderDetails, *, unique_key: str | None = None
) -> None:
    """Queues the order confirmation (its tickets, the link to the order with its token).
    Sent once per order unless `unique_key` names another sending (a buyer's "resend my
    tickets" passes its own)."""
    order = details.order
    token = order_token(settings, order.id)
    names = {i.id: i.name for i in details.items}
    queue_email(
        session,
        to=order.buyer_email,
        template="order_confirmation",
        context={
            "order_id": order.id,
            "event_title": details.event_title or "",
            "buyer_name": order.buyer_name or "",
            "total": _money(order.total_amount, order.currency),
            "items": [
                {
                    "name": i.name,
                    "quantity": i.quantity,
                    "amount": _money(i.unit_amount * i.quantity, i.currency),
                }
                for i in details.items
            ],
            "passes": [
                {
                    "code": p.code,
                    "tier": names.get(p.order_item_id, ""),
                    "attendee_name": p.attendee_name or "",
                }
                for p in details.passes
            ],
            # The link carries the order token (a credential): sealed in the job row.
            "sealed": seal(
                settings,
                {"order_url": f"{settings.base_url.rstrip('/')}/orders/{order.id}?token={token}"},
            ),
        },
        unique_key=unique_key or f"order_confirmation:{order.id}",
    )
