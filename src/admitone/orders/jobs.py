"""Order jobs and crons: expiry of unpaid reservations, event cancellation, and the
inventory recount that reports counter drift."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.ids import EventId, OrderId
from admitone.core.jobs import JobContext
from admitone.orders import inventory
from admitone.orders import service as orders
from admitone.orders.models import OrderStatus
from admitone.orders.service import announce

log = logging.getLogger(__name__)

EXPIRE = "orders.expire"
CANCEL_EVENT = "orders.cancel_event"
RECONCILE = "orders.reconcile_inventory"
# Scheduled by name: the payments domain comes after orders and reacts to it.
PAYMENTS_REFUND_ORDER = "payments.refund_order"

jobs.cron(EXPIRE, every=timedelta(minutes=1))
jobs.cron(RECONCILE, every=timedelta(minutes=15))


@jobs.job(EXPIRE)
def expire_orders(ctx: JobContext, /, **_: Any) -> None:
    """Expires pending orders past `expires_at`, one short transaction each."""
    expired = 0
    while True:
        due = ctx.db.query(orders.due_for_expiry, limit=200)
        if not due:
            break
        for order_id in due:
            expired += int(ctx.db.mutation(orders.expire_order, ctx.settings, order_id))
        if len(due) < 200:
            break
    if expired:
        log.info("expired %d orders", expired)


@jobs.job(CANCEL_EVENT)
def cancel_event_orders(ctx: JobContext, /, **args: Any) -> None:
    """The event was cancelled: cancel its pending orders and fully refund its paid ones.
    Each order is its own transaction; a re-run finds nothing left to do."""
    event_id = EventId(str(args["event_id"]))
    for order_id, status in ctx.db.query(orders.open_orders_of_event, event_id):
        if status == OrderStatus.PENDING:
            ctx.db.mutation(
                orders.cancel_order,
                ctx.settings,
                order_id,
                actor_user_id=None,
                reason="event_cancelled",
            )
            continue

        def _refund(session: Session, order_id: OrderId = order_id) -> None:
            plan = orders.refund_order(
                session,
                ctx.settings,
                order_id,
                actor_user_id=None,
                quantities=None,
                reason="event_cancelled",
            )
            # The money goes back through the payments job below: no refund row yet.
            announce.refunded(session, ctx.settings, plan.order, plan.amount)
            if plan.amount > 0:
                jobs.schedule(
                    session,
                    PAYMENTS_REFUND_ORDER,
                    {
                        "order_id": order_id,
                        "amount": plan.amount,
                        "reason": "event_cancelled",
                        "quantities": plan.quantities,
                    },
                    unique_key=f"{PAYMENTS_REFUND_ORDER}:event_cancelled:{order_id}",
                )

        ctx.db.mutation(_refund)


@jobs.job(RECONCILE)
def reconcile_inventory(ctx: JobContext, /, **_: Any) -> None:
    """Recounts held and sold units from the order rows; any counter that disagrees is
    logged and stored in `inventory_drifts` (reported, not silently corrected)."""

    def _run(session: Session) -> int:
        drifts = inventory.find_drift(session)
        inventory.record_drift(session, drifts)
        return len(drifts)

    found = ctx.db.mutation(_run)
    if found:
        log.warning("inventory reconciliation found %d drifting counters", found)
