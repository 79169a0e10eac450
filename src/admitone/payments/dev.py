"""The dev provider's own checkout: the page's facts, and approving or declining a payment
through the same signed-webhook path a real provider's notification takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.core.db import Database
from admitone.events.models import Event
from admitone.integrations.payments import registry
from admitone.integrations.payments.dev import DevProvider
from admitone.orders import service as orders
from admitone.orders.models import Order, OrderStatus
from admitone.payments.errors import DevProviderDisabled, PaymentAmountMismatch, PaymentNotFound
from admitone.payments.models import Payment
from admitone.payments.service import Applied, payment_by_reference, process_webhook
from admitone.settings import Settings


@dataclass(frozen=True)
class DevCheckout:
    payment: Payment
    order: Order
    event_title: str


def _require_dev(settings: Settings) -> None:
    if not settings.is_dev or "dev" not in settings.payments.providers:
        raise DevProviderDisabled()


def dev_checkout(session: Session, settings: Settings, reference: str) -> DevCheckout:
    """The dev payment behind `reference` with its order and event title (404 for any
    other provider's payment; 404 `dev_provider_disabled` outside dev)."""
    _require_dev(settings)
    payment = payment_by_reference(session, reference)
    if payment.provider != "dev":
        raise PaymentNotFound()
    order = orders.get_order(session, payment.order_id)
    title = session.scalar(select(Event.title).where(Event.id == order.event_id)) or ""
    return DevCheckout(payment, order, title)


def webhook_result(applied: Applied) -> dict[str, object]:
    """The webhook's answer (`WebhookResultOut`); an amount mismatch is recorded, then
    refused to the caller (422)."""
    if applied.outcome == "payment_amount_mismatch":
        raise PaymentAmountMismatch(order_id=applied.order_id)
    return {"received": True, "outcome": applied.outcome, "order_id": applied.order_id}


def settle_dev_payment(
    db: Database, settings: Settings, reference: str, outcome: Literal["succeeded", "failed"]
) -> dict[str, object]:
    """Makes the dev provider sign its webhook and feeds it to the webhook path; answers
    `DevOutcomeOut` (the webhook's answer and the order's status after it)."""
    found = db.query(dev_checkout, settings, reference)
    provider = registry.get_provider(settings, "dev")
    assert isinstance(provider, DevProvider)
    payment = found.payment
    event = provider.build_event(payment.reference, outcome, payment.amount, payment.currency)
    body, headers = provider.sign_webhook(event)
    result = webhook_result(process_webhook(db, settings, "dev", body, headers))

    def _status(session: Session) -> OrderStatus:
        return orders.get_order(session, payment.order_id).status

    result["order_status"] = db.query(_status)
    return result
