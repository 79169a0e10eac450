"""Payments: opening one per paid order, applying provider webhooks, refunds, reconciliation.

Every webhook goes through `process_webhook`: the provider adapter verifies the signature
over the raw body, then one mutation records the event under its provider event id (a
unique key, so a replay is a no-op even when deliveries race), checks amount and currency
against the payment, and applies it to the order. The dev provider's approve/decline and
the reconciliation cron feed the same function. Provider calls (initialize, verify,
refund) run outside transactions; their results are recorded by mutations.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.clock import utcnow
from admitone.core.db import Database, DriverStatement
from admitone.core.errors import ProviderError
from admitone.core.ids import OrderId, OrderItemId, PaymentId, RefundId, UserId, WebhookEventId
from admitone.core.inserts import insert_rows
from admitone.integrations.payments import registry
from admitone.integrations.payments.base import Checkout, Verification, WebhookEvent
from admitone.orders import service as orders
from admitone.orders.models import Order
from admitone.payments.errors import PaymentNotFound
from admitone.payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    WebhookOutcome,
)
from admitone.payments.models import WebhookEvent as WebhookRecord
from admitone.settings import Settings

log = logging.getLogger(__name__)

REFUND_JOB = "payments.refund"


# --- opening and checkout -----------------------------------------------------------------


def open_payment(session: Session, order: Order, *, provider: str) -> Payment:
    """The order's payment, waiting for the buyer; `checkout_url` comes later from the
    provider (outside this transaction)."""
    pid = PaymentId.new()
    now = utcnow()
    payment = Payment(
        id=pid,
        order_id=order.id,
        provider=provider,
        # Providers allow letters, digits, `-`, `.` and `=` in references: no underscore.
        reference=pid.replace("_", "-"),
        status=PaymentStatus.PENDING,
        amount=order.total_amount,
        currency=order.currency,
        created_at=now,
        updated_at=now,
    )
    insert_rows(session, [payment])
    return payment


def checkout_calls_network(settings: Settings, payment: Payment) -> bool:
    return registry.get_provider(settings, payment.provider).calls_network


def initialize_checkout(settings: Settings, payment: Payment, *, email: str) -> Checkout:
    """Asks the provider where the buyer pays. Network: never call inside a mutation."""
    provider = registry.get_provider(settings, payment.provider)
    return provider.initialize(
        reference=payment.reference,
        amount=payment.amount,
        currency=payment.currency,
        email=email,
        callback_url=f"{settings.base_url}/api/v1/orders/{payment.order_id}",
        metadata={"order_id": payment.order_id, "payment_id": payment.id},
    )


def record_checkout(session: Session, payment_id: PaymentId, checkout: Checkout) -> None:
    _RECORD_CHECKOUT.rows(
        session,
        {
            "payment_id": payment_id,
            "checkout_url": checkout.checkout_url,
            "provider_payment_id": checkout.provider_payment_id,
            "now": utcnow(),
        },
    )


_payments: Any = Payment.__table__
_pc = _payments.c
_RECORD_CHECKOUT = DriverStatement(
    update(_payments)
    .where(_pc.id == bindparam("payment_id"))
    .values(
        checkout_url=bindparam("checkout_url"),
        provider_payment_id=func.coalesce(
            bindparam("provider_payment_id"), _pc.provider_payment_id
        ),
        updated_at=bindparam("now"),
    )
)


def fail_checkout(
    session: Session, settings: Settings, payment_id: PaymentId, reason: str
) -> Payment:
    """The provider refused to start the checkout: the payment fails, the order is cancelled
    so its seats go back at once."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise PaymentNotFound()
    payment.status = PaymentStatus.FAILED
    payment.failure_reason = reason[:200]
    orders.cancel_order(
        session, settings, payment.order_id, actor_user_id=None, reason="checkout_failed"
    )
    session.flush()
    return payment


def payment_for_order(session: Session, order_id: OrderId) -> Payment | None:
    return session.scalars(select(Payment).where(Payment.order_id == order_id)).one_or_none()


def payments_for_orders(session: Session, order_ids: list[OrderId]) -> dict[OrderId, Payment]:
    if not order_ids:
        return {}
    return {
        p.order_id: p
        for p in session.scalars(select(Payment).where(Payment.order_id.in_(order_ids)))
    }


def payment_by_reference(session: Session, reference: str) -> Payment:
    payment = session.scalars(select(Payment).where(Payment.reference == reference)).one_or_none()
    if payment is None:
        raise PaymentNotFound()
    return payment


def payment_view(payment: Payment | None) -> dict[str, Any] | None:
    if payment is None:
        return None
    return {
        "id": payment.id,
        "provider": payment.provider,
        "reference": payment.reference,
        "status": payment.status,
        "amount": {"amount": payment.amount, "currency": payment.currency},
        "checkout_url": payment.checkout_url,
    }


# --- webhooks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """What one webhook did. `outcome` is stored on the webhook row: `duplicate` (replay),
    `ignored`, `unknown_reference`, `payment_amount_mismatch`, `payment_failed`, `stale`,
    `already_paid`, `paid`, `paid_after_expiry`, `refunded_automatically`,
    `refund_updated`, `unknown_refund`."""

    outcome: WebhookOutcome
    order_id: OrderId | None = None


def process_webhook(
    db: Database, settings: Settings, provider_name: str, body: bytes, headers: Mapping[str, str]
) -> Applied:
    """Verifies (raises InvalidSignature, 400) and applies one provider webhook."""
    provider = registry.get_provider(settings, provider_name)
    event = provider.parse_webhook(body, headers)
    return db.mutation(apply_event, settings, provider_name, event)


def apply_event(
    session: Session, settings: Settings, provider_name: str, event: WebhookEvent
) -> Applied:
    """Records the event once (by provider event id) and applies it; a replay returns
    `duplicate` and changes nothing."""
    ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    reference = event.payment.reference if event.payment is not None else None
    record_id = session.execute(
        ins(WebhookRecord)
        .values(
            id=WebhookEventId.new(),
            provider=provider_name,
            provider_event_id=event.event_id[:200],
            kind=event.kind[:100],
            reference=reference[:64] if reference else None,
            outcome=WebhookOutcome.RECEIVED,
            payload=dict(event.raw) if event.raw else None,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
        .returning(WebhookRecord.id)
    ).scalar_one_or_none()
    if record_id is None:
        return Applied(WebhookOutcome.DUPLICATE)
    applied = _apply(session, settings, provider_name, event)
    session.execute(
        update(WebhookRecord).where(WebhookRecord.id == record_id).values(outcome=applied.outcome)
    )
    log.info("webhook %s %s: %s", provider_name, event.event_id, applied.outcome)
    return applied


def _apply(
    session: Session, settings: Settings, provider_name: str, event: WebhookEvent
) -> Applied:
    if event.refund is not None:
        refund = session.scalars(
            select(Refund).where(Refund.provider_refund_id == event.refund.provider_refund_id)
        ).one_or_none()
        if refund is None:
            return Applied(WebhookOutcome.UNKNOWN_REFUND)
        if refund.status != RefundStatus.SUCCEEDED:
            refund.status = RefundStatus(event.refund.status)
            if refund.status == RefundStatus.SUCCEEDED:
                refund.completed_at = utcnow()
        return Applied(WebhookOutcome.REFUND_UPDATED, refund.order_id)
    seen = event.payment
    if seen is None or seen.status == "pending":
        return Applied(WebhookOutcome.IGNORED)
    payment = session.scalars(
        select(Payment).where(Payment.reference == seen.reference).with_for_update()
    ).one_or_none()
    if payment is None or payment.provider != provider_name:
        return Applied(WebhookOutcome.UNKNOWN_REFERENCE)
    return apply_verification(session, settings, payment, seen)


def apply_verification(
    session: Session, settings: Settings, payment: Payment, seen: Verification
) -> Applied:
    """Applies the provider's word on a locked payment row."""
    now = utcnow()
    if PaymentStatus(seen.status) == PaymentStatus.FAILED:
        if payment.status != PaymentStatus.PENDING:
            return Applied(WebhookOutcome.STALE, payment.order_id)  # a late failure after success
        payment.status = PaymentStatus.FAILED
        payment.failure_reason = "declined"
        orders.record_payment_failed(
            session, payment.order_id, reference=payment.reference, reason="declined"
        )
        return Applied(WebhookOutcome.PAYMENT_FAILED, payment.order_id)
    if seen.amount != payment.amount or seen.currency.upper() != payment.currency:
        log.warning(
            "payment %s: provider reports %s %s, expected %s %s",
            payment.id,
            seen.amount,
            seen.currency,
            payment.amount,
            payment.currency,
        )
        orders.note(
            session,
            payment.order_id,
            "orders.payment_amount_mismatch",
            reference=payment.reference,
            paid_amount=seen.amount,
            paid_currency=seen.currency,
        )
        return Applied(WebhookOutcome.PAYMENT_AMOUNT_MISMATCH, payment.order_id)
    if payment.status == PaymentStatus.SUCCEEDED:
        return Applied(WebhookOutcome.ALREADY_PAID, payment.order_id)
    payment.status = PaymentStatus.SUCCEEDED
    payment.paid_at = now
    payment.verified_at = now
    payment.failure_reason = None
    payment.provider_payment_id = seen.provider_payment_id or payment.provider_payment_id
    session.flush()
    outcome = orders.confirm_payment(
        session, settings, payment.order_id, reference=payment.reference
    )
    if outcome.result == orders.PaymentResult.REFUND_REQUIRED:
        open_refund(
            session,
            order_id=payment.order_id,
            amount=payment.amount,
            reason="order_closed_before_payment",
            quantities=None,
            actor_user_id=None,
            unique_key=f"auto:{payment.id}",
        )
        log.warning("payment %s for closed order %s: refunding", payment.id, payment.order_id)
        return Applied(WebhookOutcome.REFUNDED_AUTOMATICALLY, payment.order_id)
    return Applied(WebhookOutcome(outcome.result), payment.order_id)


# --- refunds ------------------------------------------------------------------------------


def open_refund(
    session: Session,
    *,
    order_id: OrderId,
    amount: int,
    reason: str,
    quantities: dict[OrderItemId, int] | None,
    actor_user_id: UserId | None,
    unique_key: str | None = None,
) -> Refund | None:
    """Records money to send back and schedules the provider call (`payments.refund`).
    None when nothing was paid through a provider (a free order) or `amount` is 0; with
    `unique_key`, a second call returns the first refund."""
    if amount <= 0:
        return None
    payment = session.scalars(
        select(Payment).where(
            Payment.order_id == order_id, Payment.status == PaymentStatus.SUCCEEDED
        )
    ).one_or_none()
    if payment is None:
        return None
    if unique_key is not None:
        existing = session.scalars(select(Refund).where(Refund.unique_key == unique_key)).first()
        if existing is not None:
            return existing
    refund = Refund(
        id=RefundId.new(),
        order_id=order_id,
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        status=RefundStatus.PENDING,
        reason=reason[:60],
        items=quantities,
        requested_by_user_id=actor_user_id,
        unique_key=unique_key,
    )
    session.add(refund)
    session.flush()
    jobs.schedule(
        session, REFUND_JOB, {"refund_id": refund.id}, unique_key=f"{REFUND_JOB}:{refund.id}"
    )
    return refund


def refund_view(refund: Refund | None) -> dict[str, Any] | None:
    if refund is None:
        return None
    return {
        "id": refund.id,
        "status": refund.status,
        "amount": {"amount": refund.amount, "currency": refund.currency},
        "reason": refund.reason,
        "created_at": refund.created_at.isoformat() if refund.created_at else None,
    }


def refunds_for_order(session: Session, order_id: OrderId) -> list[Refund]:
    return list(
        session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id))
    )


def run_refund(db: Database, settings: Settings, refund_id: RefundId) -> RefundStatus | str:
    """Sends a pending refund to its provider (idempotency key = the refund id, so a retried
    job never refunds twice) and records the answer. Raises on provider errors so the job
    is retried with backoff."""

    def _load(session: Session) -> tuple[Refund, Payment] | None:
        refund = session.get(Refund, refund_id)
        if refund is None or refund.status != RefundStatus.PENDING or refund.provider_refund_id:
            return None
        payment = session.get(Payment, refund.payment_id)
        assert payment is not None
        return refund, payment

    loaded = db.query(_load)
    if loaded is None:
        return "nothing_to_do"
    refund, payment = loaded
    provider = registry.get_provider(settings, payment.provider)
    result = provider.refund(
        reference=payment.reference,
        provider_payment_id=payment.provider_payment_id,
        amount=refund.amount,
        currency=refund.currency,
        idempotency_key=refund.id,
    )

    status = RefundStatus(result.status)

    def _record(session: Session) -> None:
        session.execute(
            update(Refund)
            .where(Refund.id == refund_id, Refund.status == RefundStatus.PENDING)
            .values(
                status=status,
                provider_refund_id=result.provider_refund_id,
                completed_at=utcnow() if status == RefundStatus.SUCCEEDED else None,
                updated_at=utcnow(),
            )
        )

    db.mutation(_record)
    if status == RefundStatus.FAILED:
        log.error("refund %s failed at %s", refund_id, payment.provider)
    return status


# --- reconciliation -----------------------------------------------------------------------


def reconcile_payments(
    db: Database,
    settings: Settings,
    *,
    older_than: timedelta = timedelta(minutes=2),
    give_up_after: timedelta = timedelta(days=1),
    limit: int = 200,
) -> dict[str, int]:
    """Asks the provider about payments still pending after `older_than` (and younger than
    `give_up_after`) and applies any
    final answer through the same path as a webhook (keyed `verify:<reference>:<status>`,
    so a webhook arriving later is harmless). Returns counts per outcome."""

    def _pending(session: Session) -> list[Payment]:
        return list(
            session.scalars(
                select(Payment)
                .where(
                    Payment.status == PaymentStatus.PENDING,
                    Payment.created_at <= utcnow() - older_than,
                    # A checkout abandoned for a day is not asked about forever (and never
                    # starves newer payments of the batch).
                    Payment.created_at > utcnow() - give_up_after,
                )
                .order_by(Payment.created_at)
                .limit(limit)
            )
        )

    counts: dict[str, int] = {}
    for payment in db.query(_pending):
        try:
            provider = registry.get_provider(settings, payment.provider)
            seen = provider.verify(payment.reference, payment.provider_payment_id)
        except ProviderError as exc:
            log.warning("reconcile: cannot verify payment %s: %s", payment.id, exc)
            counts["provider_error"] = counts.get("provider_error", 0) + 1
            continue
        except Exception:
            log.exception("reconcile: provider %s failed for %s", payment.provider, payment.id)
            counts["provider_error"] = counts.get("provider_error", 0) + 1
            continue
        if seen.status == "pending":
            counts["still_pending"] = counts.get("still_pending", 0) + 1
            continue
        event = WebhookEvent(
            event_id=f"verify:{payment.reference}:{seen.status}",
            kind="reconcile.verify",
            payment=seen,
            raw={"source": "reconcile"},
        )
        applied = db.mutation(apply_event, settings, payment.provider, event)
        counts[applied.outcome] = counts.get(applied.outcome, 0) + 1
    if counts:
        log.info("payments reconciled: %s", counts)
    return counts
