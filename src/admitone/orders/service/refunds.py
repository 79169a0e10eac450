"""Refunds on the order's side: units taken back per line, their passes revoked, their
stock released, the order's refunded amount and status updated. The money itself is the
payments domain's (checkout composes the two)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.ids import OrderId, OrderItemId, PassId, UserId
from admitone.orders import inventory
from admitone.orders.errors import OrderNotRefundable, RefundExceedsQuantity, UnknownOrderItem
from admitone.orders.models import REFUNDABLE_STATUSES, Order, OrderItem, OrderStatus
from admitone.orders.service import announce
from admitone.orders.service.common import (
    buyer_key,
    get_order,
    items_of,
    stock_of,
    stock_order,
    write_history,
)
from admitone.passes import service as passes
from admitone.passes.models import Pass
from admitone.settings import Settings


@dataclass(frozen=True)
class RefundPlan:
    """What `refund_order` took back: the amount to return and the units per item."""

    order: Order
    amount: int
    currency: str
    quantities: dict[OrderItemId, int]
    revoked_pass_ids: list[PassId]


def refund_order(
    session: Session,
    settings: Settings,
    order_id: OrderId,
    *,
    actor_user_id: UserId | None,
    quantities: dict[OrderItemId, int] | None,
    reason: str,
) -> RefundPlan:
    """Refunds the whole order (`quantities=None`) or some units per item: revokes their
    passes, gives their stock back and updates the order. Returns the amount the payments
    domain must send back; raises `OrderNotRefundable`, `UnknownOrderItem`,
    `RefundExceedsQuantity`. Emits `pass.revoked` per revoked pass; `order.refunded` is the
    caller's to announce (`announce.refunded`), once the refund's money side is known."""
    order = get_order(session, order_id, for_update=True)
    if order.status not in REFUNDABLE_STATUSES:
        raise OrderNotRefundable(order_status=order.status)
    items: dict[OrderItemId, OrderItem] = {i.id: i for i in items_of(session, [order.id])[order.id]}
    if quantities is None:
        wanted = {i.id: i.quantity - i.refunded_quantity for i in items.values()}
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
    revoked: list[Pass] = []
    for item in stock_order([items[i] for i in wanted]):
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
        model, row_id = stock_of(item)
        inventory.release(session, model, row_id, k, held=False)
        if item.tier_id is not None:
            inventory.uncount_for_buyer(session, item.tier_id, key, k)
            revoked += passes.revoke_passes(
                session, order_id=order.id, order_item_id=item.id, count=k, reason=reason
            )
    before = order.status
    all_back = all(i.refunded_quantity >= i.quantity for i in items.values())
    now = utcnow()
    order.refunded_amount += amount
    order.status = OrderStatus.REFUNDED if all_back else OrderStatus.PARTIALLY_REFUNDED
    order.closed_at = now if all_back else None
    order.updated_at = now
    session.flush()
    write_history(
        session,
        order,
        "orders.refunded",
        before,
        actor_user_id,
        amount=amount,
        quantities=wanted,
        reason=reason,
    )
    announce.pass_events(session, settings, "pass.revoked", order.event_id, revoked)
    return RefundPlan(order, amount, order.currency, wanted, [p.id for p in revoked])
