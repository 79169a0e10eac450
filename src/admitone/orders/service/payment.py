"""An order's payment outcome, as the payments domain reports it: paid (held seats become
sold, passes issued, confirmation queued), declined, or a note (an amount mismatch)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.ids import OrderId
from admitone.events.models import Event
from admitone.orders import inventory
from admitone.orders.models import PAID_STATUSES, Order, OrderStatus
from admitone.orders.service import announce
from admitone.orders.service.common import (
    OrderDetails,
    buyer_key,
    get_order,
    items_of,
    stock_of,
    stock_order,
    write_history,
)
from admitone.orders.service.placing import issue_passes, queue_confirmation
from admitone.settings import Settings

log = logging.getLogger(__name__)


class PaymentResult(StrEnum):
    """What applying a successful payment did to the order."""

    PAID = "paid"
    PAID_AFTER_EXPIRY = "paid_after_expiry"
    ALREADY_PAID = "already_paid"
    REFUND_REQUIRED = "refund_required"  # cancelled, or expired with its stock gone


@dataclass(frozen=True)
class PaymentOutcome:
    result: PaymentResult
    order: Order


def confirm_payment(
    session: Session, settings: Settings, order_id: OrderId, *, reference: str
) -> PaymentOutcome:
    """Marks the order paid: held seats become sold, passes are issued and the
    confirmation e-mail is queued. Safe to call twice (the second call changes nothing)."""
    order = get_order(session, order_id, for_update=True)
    items = items_of(session, [order.id])[order.id]
    before = order.status
    if order.status in PAID_STATUSES:
        return PaymentOutcome(PaymentResult.ALREADY_PAID, order)
    if order.status == OrderStatus.CANCELLED:
        write_history(session, order, "orders.payment_after_cancel", before, reference=reference)
        return PaymentOutcome(PaymentResult.REFUND_REQUIRED, order)
    now = utcnow()
    result = PaymentResult.PAID
    if order.status == OrderStatus.PENDING:
        for item in stock_order(items):
            model, row_id = stock_of(item)
            # On counter drift, fall back to taking the seats from what is left.
            if not inventory.held_to_sold(
                session, model, row_id, item.quantity
            ) and not inventory.restore_sold(session, model, row_id, item.quantity):
                log.error("order %s: cannot move held stock of %s to sold", order.id, row_id)
    else:  # expired: its stock went back; take it again if it is still there
        savepoint = session.begin_nested()
        ok = all(
            inventory.restore_sold(session, *stock_of(item), item.quantity)
            for item in stock_order(items)
        )
        if not ok:
            savepoint.rollback()
            log.warning("order %s paid after expiry; stock gone, refunding", order.id)
            write_history(
                session, order, "orders.payment_after_expiry_refunded", before, reference=reference
            )
            return PaymentOutcome(PaymentResult.REFUND_REQUIRED, order)
        savepoint.commit()
        key = buyer_key(order)
        for item in items:
            if item.tier_id is not None:
                inventory.add_for_buyer(session, item.tier_id, key, item.quantity)
        log.info("order %s paid after expiry; stock re-reserved", order.id)
        result = PaymentResult.PAID_AFTER_EXPIRY
    order.status = OrderStatus.PAID
    order.paid_at = now
    order.closed_at = None
    order.updated_at = now
    session.flush()
    write_history(
        session,
        order,
        "orders.paid",
        before,
        reference=reference,
        after_expiry=result == PaymentResult.PAID_AFTER_EXPIRY,
    )
    details = OrderDetails(
        order,
        items,
        event_title=session.scalar(select(Event.title).where(Event.id == order.event_id)),
    )
    details.passes = issue_passes(session, order, items)
    queue_confirmation(session, settings, details)
    announce.paid(session, settings, details)
    return PaymentOutcome(result, order)


def record_payment_failed(
    session: Session, order_id: OrderId, *, reference: str, reason: str
) -> None:
    """A declined payment: the order stays pending (the buyer may try again) until expiry."""
    order = get_order(session, order_id)
    write_history(
        session, order, "orders.payment_failed", order.status, reference=reference, reason=reason
    )


def note(session: Session, order_id: OrderId, action: str, **data: Any) -> None:
    """A history entry that changes no state (e.g. a payment whose amount did not match)."""
    order = get_order(session, order_id)
    write_history(session, order, action, order.status, **data)
