"""Payment routes (support service): provider webhooks, and the dev provider's checkout
page whose approve/decline buttons send a signed webhook through the same path."""

from __future__ import annotations

import html
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.core.http import Db, app_settings
from admitone.core.ids import OrderId
from admitone.events.models import Event
from admitone.integrations.payments import registry
from admitone.integrations.payments.dev import DevProvider
from admitone.orders import service as orders
from admitone.orders.models import Order
from admitone.payments import service as payments
from admitone.payments.errors import DevProviderDisabled, PaymentAmountMismatch, PaymentNotFound
from admitone.payments.models import Payment

support_router = APIRouter(prefix="/payments", tags=["payments"])
# Mounted at the root only when ADMITONE_ENV=dev.
dev_router = APIRouter(prefix="/support/v1/payments/dev", tags=["development"])

ProviderName = Literal["dev", "paystack", "stripe"]
Reference = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9.=-]+$")]


def _result(applied: payments.Applied) -> dict[str, Any]:
    if applied.outcome == "payment_amount_mismatch":
        # Recorded (the webhook row and the order's history committed); refused to the caller.
        raise PaymentAmountMismatch(order_id=applied.order_id)
    return {"received": True, "outcome": applied.outcome, "order_id": applied.order_id}


@support_router.post(
    "/webhooks/{provider}",
    responses={
        400: {"description": "`invalid_signature`, `malformed_webhook`"},
        422: {"description": "`payment_amount_mismatch` (recorded, not applied)"},
    },
)
async def receive_webhook(provider: ProviderName, request: Request, db: Db) -> dict[str, Any]:
    """Verifies the signature over the raw body and applies the event once; a replayed
    event id answers 200 with `outcome: duplicate` and changes nothing."""
    body = await request.body()
    applied = await run_in_threadpool(
        payments.process_webhook, db, app_settings(request), provider, body, dict(request.headers)
    )
    return _result(applied)


# --- dev provider -------------------------------------------------------------------------


def _dev_payment(request: Request, db: Db, reference: str) -> tuple[Payment, Order, str]:
    settings = app_settings(request)
    if not settings.is_dev or "dev" not in settings.payments.providers:
        raise DevProviderDisabled()

    def _read(session: Session) -> tuple[Payment, Order, str]:
        payment = payments.payment_by_reference(session, reference)
        if payment.provider != "dev":
            raise PaymentNotFound()
        order = session.get(Order, payment.order_id)
        assert order is not None
        title = session.scalar(select(Event.title).where(Event.id == order.event_id)) or ""
        return payment, order, title

    return db.query(_read)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dev checkout</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/site.css"></head>
<body><main>
<h1>Dev checkout</h1>
<p>This page stands in for a payment provider. Nothing is charged.</p>
<dl>
<dt>Event</dt><dd>{title}</dd>
<dt>Order</dt><dd>{order_id} ({order_status})</dd>
<dt>Amount</dt><dd>{amount}</dd>
<dt>Reference</dt><dd>{reference}</dd>
<dt>Payment</dt><dd id="status">{status}</dd>
</dl>
<div class="actions">
<form method="post" action="{action}/approve"><button type="submit">Approve</button></form>
<form method="post" action="{action}/decline">
<button type="submit" class="secondary">Decline</button></form>
</div>
</main></body></html>
"""

# The dev page is ours, so it keeps the pages' policy: no inline script or style.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dev_router.get("/{reference}", response_class=HTMLResponse)
def dev_checkout_page(reference: Reference, request: Request, db: Db) -> HTMLResponse:
    payment, order, title = _dev_payment(request, db, reference)
    amount = f"{payment.currency} {payment.amount / 100:,.2f}"
    return HTMLResponse(
        _PAGE.format(
            title=html.escape(title),
            order_id=html.escape(order.id),
            order_status=html.escape(order.status),
            amount=html.escape(amount),
            reference=html.escape(payment.reference),
            status=html.escape(payment.status),
            action=html.escape(request.url.path),
        ),
        headers=_PAGE_HEADERS,
    )


def _dev_outcome(
    request: Request, db: Db, reference: str, outcome: Literal["succeeded", "failed"]
) -> dict[str, Any]:
    """Makes the dev provider sign its webhook and feeds it to the webhook path."""
    payment, _, _ = _dev_payment(request, db, reference)
    settings = app_settings(request)
    provider = registry.get_provider(settings, "dev")
    assert isinstance(provider, DevProvider)
    event = provider.build_event(payment.reference, outcome, payment.amount, payment.currency)
    body, headers = provider.sign_webhook(event)
    applied = payments.process_webhook(db, settings, "dev", body, headers)
    result = _result(applied)

    def _status(session: Session) -> str | None:
        return session.scalar(select(Order.status).where(Order.id == payment.order_id))

    result["order_status"] = db.query(_status)
    return result


def _answer(request: Request, result: dict[str, Any]) -> Any:
    """JSON for programs; a browser's form post goes back to its order page, as a real
    provider's checkout returns the buyer to the shop."""
    form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    if form and result.get("order_id"):
        order_id = OrderId(str(result["order_id"]))
        token = orders.order_token(app_settings(request), order_id)
        return RedirectResponse(f"/orders/{order_id}?token={token}", status_code=303)
    return result


@dev_router.post("/{reference}/approve")
def dev_approve(reference: Reference, request: Request, db: Db) -> Any:
    return _answer(request, _dev_outcome(request, db, reference, "succeeded"))


@dev_router.post("/{reference}/decline")
def dev_decline(reference: Reference, request: Request, db: Db) -> Any:
    return _answer(request, _dev_outcome(request, db, reference, "failed"))
