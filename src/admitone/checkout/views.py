"""The order as the API shows it: its lines, payment, passes and refunds, built as plain
JSON (it is also the stored idempotent response, and the on-sale's hot path)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from admitone.core.ids import OrderId
from admitone.orders import service as orders
from admitone.orders.models import OrderStatus
from admitone.passes import service as passes
from admitone.payments import service as payments
from admitone.payments.models import Payment, Refund
from admitone.settings import Settings


def money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def order_view(
    settings: Settings,
    details: orders.OrderDetails,
    payment: Payment | None = None,
    refunds: list[Refund] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """The order as JSON (`orders.schemas.OrderOut`; a test checks bodies against it)."""
    o = details.order
    body: dict[str, Any] = {
        "id": o.id,
        "event_id": o.event_id,
        "status": o.status,
        "buyer": {"email": o.buyer_email, "name": o.buyer_name, "user_id": o.buyer_user_id},
        "items": [
            {
                "id": i.id,
                "kind": "ticket" if i.tier_id is not None else "addon",
                "tier_id": i.tier_id,
                "addon_id": i.addon_id,
                "name": i.name,
                "quantity": i.quantity,
                "refunded_quantity": i.refunded_quantity,
                "unit_price": money(i.unit_amount, i.currency),
                "total": money(i.unit_amount * i.quantity, i.currency),
            }
            for i in details.items
        ],
        "total": money(o.total_amount, o.currency),
        "refunded": money(o.refunded_amount, o.currency),
        "created_at": _iso(o.created_at),
        "expires_at": _iso(o.expires_at) if o.status == OrderStatus.PENDING else None,
        "paid_at": _iso(o.paid_at),
        "referral_code": o.referral_code,
        "payment": payments.payment_view(payment),
        "passes": [passes.pass_view(settings, p) for p in details.passes],
        "refunds": [payments.refund_view(r) for r in refunds or []],
    }
    if token is not None:
        body["order_token"] = token
    return body


def full_view(session: Session, settings: Settings, order_id: OrderId) -> dict[str, Any]:
    """The order with its passes, payment and refunds, read now."""
    details = orders.order_details(session, order_id)
    return order_view(
        settings,
        details,
        payments.payment_for_order(session, order_id),
        payments.refunds_for_order(session, order_id),
    )


def page_view(
    session: Session,
    settings: Settings,
    found: list[orders.OrderDetails],
    next_cursor: str | None,
) -> dict[str, Any]:
    """A page of orders with their payments (`Page[OrderOut]`)."""
    pays = payments.payments_for_orders(session, [d.order.id for d in found])
    return {
        "items": [order_view(settings, d, pays.get(d.order.id)) for d in found],
        "next_cursor": next_cursor,
    }
