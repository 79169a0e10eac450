"""Orders: placing (reservation), payment, cancellation, expiry and refunds.

Lifecycle: `pending -> paid -> (partially_refunded | refunded)`, `pending -> expired |
cancelled`; a payment that arrives after expiry re-reserves into `paid` when stock remains.
Every state change writes an `order_history` row; orders are never deleted. Stock moves
only through the conditional UPDATEs in `inventory`, and the reservation is the last
statement of `place_order`'s transaction so the hot tier row is locked as briefly as possible.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.db import DriverStatement, publish
from admitone.core.ids import OrderEventId, OrderId, OrderItemId
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
    OrderNotCancellable,
    OrderNotFound,
    OrderNotRefundable,
    RefundExceedsQuantity,
    SalesClosed,
    SalesPaused,
    TierNotFound,
    TierSoldOut,
    UnknownOrderItem,
)
from admitone.orders.models import Addon, Order, OrderHistory, OrderItem
from admitone.passes import service as passes
from admitone.passes.models import Pass
from admitone.settings import Settings

log = logging.getLogger(__name__)

OPEN_STATUSES = ("pending",)
REFUNDABLE_STATUSES = ("paid", "partially_refunded")


# --- requests and results ---------------------------------------------------------------


@dataclass(frozen=True)
class TicketLine:
    tier_id: str
    quantity: int


@dataclass(frozen=True)
class AddonLine:
    addon_id: str
    quantity: int


@dataclass(frozen=True)
class Attendee:
    name: str
    email: str | None = None


@dataclass(frozen=True)
class OrderRequest:
    event_id: str
    items: Sequence[TicketLine]
    buyer_email: str
    buyer_name: str | None = None
    buyer_user_id: str | None = None
    addons: Sequence[AddonLine] = ()
    attendees: Sequence[Attendee] | None = None
    access_code: str | None = None


@dataclass
class OrderDetails:
    order: Order
    items: list[OrderItem]
    passes: list[Pass] = field(default_factory=list)
    event_title: str | None = None


def order_topic(order_id: str) -> str:
    return f"order:{order_id}"


def buyer_key(order: Order) -> str:
    """Who the per-buyer limit counts: the signed-in user, else the e-mail address."""
    if order.buyer_user_id:
        return f"usr:{order.buyer_user_id}"
    return f"email:{order.buyer_email.strip().lower()}"


def order_token(settings: Settings, order_id: str) -> str:
    """The secret that lets an anonymous buyer read their order (returned at creation and
    in e-mail links). Derived, not stored: HMAC of the id under the server secret."""
    return hmac.new(settings.secret, f"order-token:{order_id}".encode(), "sha256").hexdigest()[:40]


def token_matches(settings: Settings, order_id: str, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(order_token(settings, order_id), token)


def insert_rows(session: Session, rows: Sequence[Any]) -> None:
    """Inserts fully populated, transient model objects of one class with one INSERT
    (executemany for several) on the driver, leaving them out of the session."""
    if not rows:
        return
    stmt, keys = _insert_for(type(rows[0]))
    values = [{k: getattr(r, k) for k in keys} for r in rows]
    if len(values) == 1:
        stmt.rows(session, values[0])
    else:
        stmt.execute_many(session, values)


_INSERTS: dict[str, tuple[DriverStatement, list[str]]] = {}


def _insert_for(model: Any) -> tuple[DriverStatement, list[str]]:
    """`INSERT INTO <table>` of every column and the column keys, built once per table."""
    found = _INSERTS.get(model.__tablename__)
    if found is None:
        table = model.__table__
        keys = [c.key for c in table.columns]
        found = _INSERTS[model.__tablename__] = (DriverStatement(insert(table), keys), keys)
    return found


def _history(
    session: Session,
    order: Order,
    action: str,
    from_status: str | None,
    actor_user_id: str | None = None,
    **data: Any,
) -> None:
    _insert_for(OrderHistory)[0].rows(
        session,
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


# --- placing ------------------------------------------------------------------------------

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
    id: str
    status: str
    ends_at: datetime
    title: str
    reservation_minutes: int


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


@dataclass
class PreparedOrder:
    """An order whose rows are written but whose stock is not reserved yet."""

    details: OrderDetails
    tiers: dict[str, Any]  # rows of _tiers_for_sale
    wanted: dict[str, int]
    addon_wanted: dict[str, int]
    now: datetime

    @property
    def order(self) -> Order:
        return self.details.order


def place_order(session: Session, settings: Settings, req: OrderRequest) -> OrderDetails:
    """Creates the order and reserves its stock in the caller's transaction.

    A free order is `paid` at once (seats sold, passes issued, confirmation queued); any
    other is `pending` until its payment arrives or `expires_at` passes. Raises every
    refusal in `orders.errors`; nothing is written when one is raised. Callers that add
    rows of their own (the route opens the payment) use `prepare_order`, then their
    inserts, then `reserve_stock`, so the stock rows stay locked for the shortest time.
    """
    return reserve_stock(session, prepare_order(session, settings, req))


def prepare_order(session: Session, settings: Settings, req: OrderRequest) -> PreparedOrder:
    """Checks every rule and writes the order, its items and history; reserves nothing."""
    now = utcnow()
    wanted: dict[str, int] = {}
    for line in req.items:
        wanted[line.tier_id] = wanted.get(line.tier_id, 0) + line.quantity
    if not wanted:
        raise EmptyOrder()
    # One statement built once reads the tiers with their event (Core rows, not ORM
    # entities: the on-sale hot path); the event alone is read only to explain a miss.
    params = {f"t{i}": tier_id for i, tier_id in enumerate(wanted)}
    rows = _tiers_for_sale(len(wanted)).rows(session, {**params, "event_id": req.event_id})
    tiers = {t.id: t for t in rows}
    first = next(iter(tiers.values()), None)
    event = (
        _EventForSale(
            req.event_id,
            first.event_status,
            first.event_ends_at,
            first.event_title,
            first.reservation_minutes,
        )
        if first is not None
        else session.execute(_EVENT_FOR_SALE, {"event_id": req.event_id}).one_or_none()
    )
    if event is None:
        raise EventNotFound()
    if event.status != "published" or event.ends_at <= now:
        raise EventNotOnSale()
    for tier_id in wanted:
        if tier_id not in tiers:
            raise TierNotFound(tier_id=tier_id)
    code_hash = hash_access_code(settings.secret, req.access_code) if req.access_code else None
    for tier_id, quantity in wanted.items():
        _check_tier(tiers[tier_id], quantity, code_hash, now)
    tickets = sum(wanted.values())

    addon_wanted: dict[str, int] = {}
    for a in req.addons:
        addon_wanted[a.addon_id] = addon_wanted.get(a.addon_id, 0) + a.quantity
    addons: dict[str, Addon] = {}
    if addon_wanted:
        addons = {
            a.id: a
            for a in session.scalars(
                select(Addon).where(
                    Addon.id.in_(addon_wanted), Addon.event_id == event.id, Addon.is_active
                )
            )
        }
        for addon_id, quantity in addon_wanted.items():
            addon = addons.get(addon_id)
            if addon is None:
                raise AddonNotFound(addon_id=addon_id)
            limit = addon.max_per_order * (tickets if addon.per == "ticket" else 1)
            if quantity > limit:
                raise LimitExceeded(
                    f"At most {limit} of this add-on fit this order.",
                    addon_id=addon_id,
                    max_quantity=limit,
                )

    currencies = {t.currency for t in tiers.values()} | {a.currency for a in addons.values()}
    if len(currencies) != 1:
        raise MixedCurrencies()
    currency = currencies.pop()

    attendees = list(req.attendees) if req.attendees else None
    if attendees is not None and len(attendees) != tickets:
        raise AttendeesMismatch(expected=tickets, given=len(attendees))

    # Lines in the buyer's order of items (attendees follow it), tiers first.
    order_id = OrderId.new()
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
    for addon_id, quantity in addon_wanted.items():
        addon = addons[addon_id]
        items.append(
            OrderItem(
                id=OrderItemId.new(),
                order_id=order_id,
                addon_id=addon_id,
                name=addon.name,
                quantity=quantity,
                unit_amount=addon.price_amount,
                currency=currency,
                refunded_quantity=0,
                created_at=now,
            )
        )
    total = sum(i.unit_amount * i.quantity for i in items)
    free = total == 0
    order = Order(
        id=order_id,
        event_id=event.id,
        buyer_user_id=req.buyer_user_id,
        buyer_email=req.buyer_email.strip(),
        buyer_name=req.buyer_name,
        status="paid" if free else "pending",
        total_amount=total,
        refunded_amount=0,
        currency=currency,
        expires_at=None if free else now + timedelta(minutes=event.reservation_minutes),
        paid_at=now if free else None,
        created_at=now,
        updated_at=now,
    )
    # Core INSERTs of the rows the objects describe (the objects stay transient: they are
    # what the caller renders). Cheaper than the unit of work on the hot path.
    insert_rows(session, [order])
    insert_rows(session, items)
    _history(session, order, "orders.placed", None, req.buyer_user_id, total=total)
    if free:
        _history(session, order, "orders.paid", "pending", req.buyer_user_id, free=True)

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

    details = OrderDetails(order, items, event_title=event.title)
    if free:
        details.passes = _issue_passes(session, order, items)
        _queue_confirmation(session, settings, details)
    return PreparedOrder(details, tiers, wanted, addon_wanted, now)


def reserve_stock(session: Session, prepared: PreparedOrder) -> OrderDetails:
    """The conditional UPDATEs on the (possibly hot) stock rows, in id order: meant as the
    last statements of the transaction. Raises `TierSoldOut`, `AddonSoldOut`, ... (the
    caller's transaction then rolls back every row `prepare_order` wrote)."""
    into = "sold" if prepared.order.status == "paid" else "held"
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


def _refuse_tier(session: Session, tier_id: str, now: datetime) -> None:
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


def _issue_passes(session: Session, order: Order, items: list[OrderItem]) -> list[Pass]:
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


def _queue_confirmation(session: Session, settings: Settings, details: OrderDetails) -> None:
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
        unique_key=f"order_confirmation:{order.id}",
    )


# --- reading ------------------------------------------------------------------------------


def get_order(session: Session, order_id: str, *, for_update: bool = False) -> Order:
    query = select(Order).where(Order.id == order_id)
    if for_update:
        query = query.with_for_update()
    order = session.scalars(query).one_or_none()
    if order is None:
        raise OrderNotFound()
    return order


def items_of(session: Session, order_ids: Sequence[str]) -> dict[str, list[OrderItem]]:
    out: dict[str, list[OrderItem]] = {oid: [] for oid in order_ids}
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


def order_details(session: Session, order_id: str) -> OrderDetails:
    order = get_order(session, order_id)
    items = items_of(session, [order.id])[order.id]
    found = passes.passes_for_order(session, order.id)
    title = session.scalar(select(Event.title).where(Event.id == order.event_id))
    return OrderDetails(order, items, found, title)


def _after_clause(model: type[Order], after: list[Any] | None) -> Any:
    if after is None:
        return None
    created, last_id = after
    at = datetime.fromisoformat(created)
    return (model.created_at < at) | ((model.created_at == at) & (model.id < last_id))


def orders_of_buyer(
    session: Session, user_id: str, *, limit: int, after: list[Any] | None
) -> list[OrderDetails]:
    query = select(Order).where(Order.buyer_user_id == user_id)
    clause = _after_clause(Order, after)
    if clause is not None:
        query = query.where(clause)
    found = list(
        session.scalars(query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit))
    )
    lines = items_of(session, [o.id for o in found])
    return [OrderDetails(o, lines[o.id]) for o in found]


def orders_of_event(
    session: Session,
    event_id: str,
    *,
    status: str | None = None,
    search: str | None = None,
    limit: int | None,
    after: list[Any] | None = None,
) -> list[OrderDetails]:
    """An event's orders, newest first; `search` matches the buyer's e-mail or name
    (substring, case-insensitive) or an order id prefix."""
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
    clause = _after_clause(Order, after)
    if clause is not None:
        query = query.where(clause)
    query = query.order_by(Order.created_at.desc(), Order.id.desc())
    if limit is not None:
        query = query.limit(limit)
    found = list(session.scalars(query))
    lines = items_of(session, [o.id for o in found])
    return [OrderDetails(o, lines[o.id]) for o in found]


# --- payment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentOutcome:
    """What applying a successful payment did: `paid`, `paid_after_expiry`, `already_paid`,
    or `refund_required` (the order was cancelled, or expired and its stock is gone)."""

    result: str
    order: Order


def confirm_payment(
    session: Session, settings: Settings, order_id: str, *, reference: str
) -> PaymentOutcome:
    """Marks the order paid: held seats become sold, passes are issued and the
    confirmation e-mail is queued. Safe to call twice (the second call changes nothing)."""
    order = get_order(session, order_id, for_update=True)
    items = items_of(session, [order.id])[order.id]
    before = order.status
    if order.status in ("paid", "partially_refunded", "refunded"):
        return PaymentOutcome("already_paid", order)
    if order.status == "cancelled":
        _history(session, order, "orders.payment_after_cancel", before, reference=reference)
        return PaymentOutcome("refund_required", order)
    now = utcnow()
    result = "paid"
    if order.status == "pending":
        for item in _stock_order(items):
            model, row_id = _stock_of(item)
            # On counter drift, fall back to taking the seats from what is left.
            if not inventory.held_to_sold(
                session, model, row_id, item.quantity
            ) and not inventory.restore_sold(session, model, row_id, item.quantity):
                log.error("order %s: cannot move held stock of %s to sold", order.id, row_id)
    else:  # expired: its stock went back; take it again if it is still there
        savepoint = session.begin_nested()
        ok = all(
            inventory.restore_sold(session, *_stock_of(item), item.quantity)
            for item in _stock_order(items)
        )
        if not ok:
            savepoint.rollback()
            log.warning("order %s paid after expiry; stock gone, refunding", order.id)
            _history(
                session, order, "orders.payment_after_expiry_refunded", before, reference=reference
            )
            return PaymentOutcome("refund_required", order)
        savepoint.commit()
        key = buyer_key(order)
        for item in items:
            if item.tier_id is not None:
                inventory.add_for_buyer(session, item.tier_id, key, item.quantity)
        log.info("order %s paid after expiry; stock re-reserved", order.id)
        result = "paid_after_expiry"
    order.status = "paid"
    order.paid_at = now
    order.closed_at = None
    order.updated_at = now
    session.flush()
    _history(
        session,
        order,
        "orders.paid",
        before,
        reference=reference,
        after_expiry=result == "paid_after_expiry",
    )
    details = OrderDetails(
        order,
        items,
        event_title=session.scalar(select(Event.title).where(Event.id == order.event_id)),
    )
    details.passes = _issue_passes(session, order, items)
    _queue_confirmation(session, settings, details)
    return PaymentOutcome(result, order)


def record_payment_failed(session: Session, order_id: str, *, reference: str, reason: str) -> None:
    """A declined payment: the order stays pending (the buyer may try again) until expiry."""
    order = get_order(session, order_id)
    _history(
        session, order, "orders.payment_failed", order.status, reference=reference, reason=reason
    )


def _stock_of(item: OrderItem) -> tuple[inventory.Stock, str]:
    if item.tier_id is not None:
        return TicketTier, item.tier_id
    assert item.addon_id is not None
    return Addon, item.addon_id


def _stock_order(items: list[OrderItem]) -> list[OrderItem]:
    """Tiers then add-ons, each by id: the lock order every transaction uses."""
    return sorted(items, key=lambda i: (i.tier_id is None, i.tier_id or i.addon_id or ""))


# --- closing pending orders ---------------------------------------------------------------


def _release_pending(session: Session, order: Order, items: list[OrderItem]) -> None:
    key = buyer_key(order)
    for item in _stock_order(items):
        model, row_id = _stock_of(item)
        inventory.release(session, model, row_id, item.quantity, held=True)
        if item.tier_id is not None:
            inventory.uncount_for_buyer(session, item.tier_id, key, item.quantity)


def _close_pending(session: Session, order_id: str, to: str, extra: Any = None) -> Order | None:
    """Moves a pending order to `to` with one conditional UPDATE; None if it was not pending."""
    now = utcnow()
    cond = [Order.id == order_id, Order.status == "pending"]
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


def expire_order(session: Session, order_id: str) -> bool:
    """Expires a pending order whose reservation ran out and releases its stock."""
    order = _close_pending(session, order_id, "expired", Order.expires_at <= utcnow())
    if order is None:
        return False
    _release_pending(session, order, items_of(session, [order.id])[order.id])
    _history(session, order, "orders.expired", "pending")
    return True


def due_for_expiry(session: Session, *, limit: int = 500) -> list[str]:
    return list(
        session.scalars(
            select(Order.id)
            .where(Order.status == "pending", Order.expires_at <= utcnow())
            .order_by(Order.expires_at)
            .limit(limit)
        )
    )


def cancel_order(
    session: Session, order_id: str, *, actor_user_id: str | None, reason: str
) -> Order:
    """Cancels a pending order and releases its stock; cancelling twice is a no-op."""
    order = _close_pending(session, order_id, "cancelled")
    if order is None:
        current = get_order(session, order_id)
        if current.status == "cancelled":
            return current
        raise OrderNotCancellable(order_status=current.status)
    _release_pending(session, order, items_of(session, [order.id])[order.id])
    _history(session, order, "orders.cancelled", "pending", actor_user_id, reason=reason)
    return order


# --- refunds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundPlan:
    """What `refund_order` took back: the amount to return and the units per item."""

    order: Order
    amount: int
    currency: str
    quantities: dict[str, int]
    revoked_pass_ids: list[str]


def refund_order(
    session: Session,
    order_id: str,
    *,
    actor_user_id: str | None,
    quantities: dict[str, int] | None,
    reason: str,
) -> RefundPlan:
    """Refunds the whole order (`quantities=None`) or some units per item: revokes their
    passes, gives their stock back and updates the order. Returns the amount the payments
    domain must send back; raises `OrderNotRefundable`, `UnknownOrderItem`,
    `RefundExceedsQuantity`."""
    order = get_order(session, order_id, for_update=True)
    if order.status not in REFUNDABLE_STATUSES:
        raise OrderNotRefundable(order_status=order.status)
    items: dict[str, OrderItem] = {i.id: i for i in items_of(session, [order.id])[order.id]}
    if quantities is None:
        wanted = {str(i.id): i.quantity - i.refunded_quantity for i in items.values()}
        wanted = {k: v for k, v in wanted.items() if v > 0}
    else:
        wanted = {k: v for k, v in quantities.items() if v > 0}
        for item_id, k in wanted.items():
            item = items.get(item_id)
            if item is None:
                raise UnknownOrderItem(order_item_id=item_id)
            if k > item.quantity - item.refunded_quantity:
                raise RefundExceedsQuantity(
                    order_item_id=item_id, refundable=item.quantity - item.refunded_quantity
                )
    if not wanted:
        raise OrderNotRefundable()
    key = buyer_key(order)
    amount = 0
    revoked: list[str] = []
    for item in _stock_order([items[i] for i in wanted]):
        k = wanted[item.id]
        taken = session.execute(
            update(OrderItem)
            .where(OrderItem.id == item.id, OrderItem.refunded_quantity + k <= OrderItem.quantity)
            .values(refunded_quantity=OrderItem.refunded_quantity + k)
            .execution_options(synchronize_session=False)
        )
        if int(getattr(taken, "rowcount", 0) or 0) != 1:
            raise RefundExceedsQuantity(order_item_id=item.id)
        item.refunded_quantity += k
        amount += item.unit_amount * k
        model, row_id = _stock_of(item)
        inventory.release(session, model, row_id, k, held=False)
        if item.tier_id is not None:
            inventory.uncount_for_buyer(session, item.tier_id, key, k)
            revoked += [
                p.id
                for p in passes.revoke_passes(
                    session, order_id=order.id, order_item_id=item.id, count=k, reason=reason
                )
            ]
    before = order.status
    all_back = all(i.refunded_quantity >= i.quantity for i in items.values())
    now = utcnow()
    order.refunded_amount += amount
    order.status = "refunded" if all_back else "partially_refunded"
    order.closed_at = now if all_back else None
    order.updated_at = now
    session.flush()
    _history(
        session,
        order,
        "orders.refunded",
        before,
        actor_user_id,
        amount=amount,
        quantities=wanted,
        reason=reason,
    )
    return RefundPlan(order, amount, order.currency, wanted, revoked)


def open_orders_of_event(session: Session, event_id: str) -> list[tuple[str, str]]:
    """(order id, status) of the event's pending and paid orders (event cancellation)."""
    return [
        (oid, status)
        for oid, status in session.execute(
            select(Order.id, Order.status).where(
                Order.event_id == event_id,
                Order.status.in_(("pending", "paid", "partially_refunded")),
            )
        )
    ]


def note(session: Session, order_id: str, action: str, **data: Any) -> None:
    """A history entry that changes no state (e.g. a payment whose amount did not match)."""
    order = get_order(session, order_id)
    _history(session, order, action, order.status, **data)
