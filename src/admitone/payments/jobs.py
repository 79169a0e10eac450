"""Payment jobs and crons: provider refunds, refunds requested by the orders domain, and
the reconciliation of payments still pending."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.ids import OrderId, OrderItemId, RefundId
from admitone.core.jobs import JobContext
from admitone.payments import service as payments

RECONCILE = "payments.reconcile"

jobs.cron(RECONCILE, every=timedelta(minutes=5))


@jobs.job(payments.REFUND_JOB)
def refund(ctx: JobContext, /, **args: Any) -> None:
    payments.run_refund(ctx.db, ctx.settings, RefundId(str(args["refund_id"])))


@jobs.job("payments.refund_order")
def refund_order(ctx: JobContext, /, **args: Any) -> None:
    """Money back for stock the orders domain already took back (event cancelled):
    `order_id`, `amount`, `reason`, `quantities`."""
    order_id = OrderId(str(args["order_id"]))
    amount, reason = int(args["amount"]), str(args["reason"])
    sent = args.get("quantities")
    quantities = {OrderItemId(k): int(v) for k, v in sent.items()} if sent else None

    def _open(session: Session) -> None:
        payments.open_refund(
            session,
            order_id=order_id,
            amount=amount,
            reason=reason,
            quantities=quantities,
            actor_user_id=None,
            unique_key=f"{reason}:{order_id}",
        )

    ctx.db.mutation(_open)


@jobs.job(RECONCILE)
def reconcile(ctx: JobContext, /, **_: Any) -> None:
    payments.reconcile_payments(ctx.db, ctx.settings)
