"""The organizer's refund: the order's units taken back (stock, passes) and the money to
send back recorded in one mutation, audited `order.refunded`; the provider is called
later by the `payments.refund` job. Idempotent under `Idempotency-Key`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.service import Scope, record_audit, require_capability
from admitone.checkout.placing import Outcome
from admitone.checkout.views import full_view, money
from admitone.core import idempotency
from admitone.core.db import Database
from admitone.core.ids import OrderId, OrderItemId, UserId
from admitone.orders import service as orders
from admitone.orders.errors import OrderNotFound
from admitone.orders.schemas import RefundIn
from admitone.orders.service import announce
from admitone.payments import service as payments
from admitone.settings import Settings


def _quantities(body: RefundIn) -> dict[OrderItemId, int] | None:
    """Units per order line (lines named twice add up); None: all that remains."""
    if body.items is None:
        return None
    quantities: dict[OrderItemId, int] = {}
    for line in body.items:
        quantities[line.order_item_id] = quantities.get(line.order_item_id, 0) + line.quantity
    return quantities


def refund_in_session(
    session: Session,
    settings: Settings,
    order_id: OrderId,
    actor_user_id: UserId,
    body: RefundIn,
    started: idempotency.Started | None = None,
) -> dict[str, Any]:
    """The mutation: `order.refund` on the event, the order's side, the payment's side,
    the audit; answers `RefundResultOut`."""
    order = orders.get_order(session, order_id)
    try:
        grant = require_capability(
            session, actor_user_id, Capability.ORDER_REFUND, Scope.event(order.event_id)
        )
    except ScopeNotFound as exc:
        raise OrderNotFound() from exc
    plan = orders.refund_order(
        session,
        settings,
        order_id,
        actor_user_id=actor_user_id,
        quantities=_quantities(body),
        reason=body.reason,
    )
    refund = payments.open_refund(
        session,
        order_id=order_id,
        amount=plan.amount,
        reason=body.reason,
        quantities=plan.quantities,
        actor_user_id=actor_user_id,
    )
    record_audit(
        session,
        actor_user_id=actor_user_id,
        action="order.refunded",
        target_type="order",
        target_id=order_id,
        organization_id=grant.organization_id,
        after={
            "amount": plan.amount,
            "quantities": plan.quantities,
            "refund_id": refund.id if refund else None,
        },
    )
    order_out = full_view(session, settings, order_id)
    refund_out = payments.refund_view(refund)
    announce.refunded(session, settings, plan.order, plan.amount, view=order_out, refund=refund_out)
    view = {
        "order": order_out,
        "refund": refund_out,
        "amount": money(plan.amount, plan.currency),
        "revoked_pass_ids": plan.revoked_pass_ids,
    }
    idempotency.finish(session, started, 201, view)
    return view


def refund_order(
    db: Database,
    settings: Settings,
    order_id: OrderId,
    actor_user_id: UserId,
    body: RefundIn,
    *,
    idempotency_key: str | None = None,
) -> Outcome:
    """Refunds the whole order (`body.items` None) or some units: `Outcome(201,
    RefundResultOut)`, or the first answer again for a repeated `Idempotency-Key`."""
    started: idempotency.Started | None = None
    if idempotency_key is not None:
        claim = idempotency.begin(
            db,
            scope=f"orders.refund:{actor_user_id}:{order_id}",
            key=idempotency_key,
            body_hash=idempotency.request_hash(body.model_dump(mode="json")),
            user_id=actor_user_id,
        )
        if isinstance(claim, idempotency.Replay):
            return Outcome(claim.status, claim.body, replayed=True)
        started = claim
    try:
        view = db.mutation(refund_in_session, settings, order_id, actor_user_id, body, started)
    except BaseException:
        idempotency.abandon(db, started)
        raise
    return Outcome(201, view)
