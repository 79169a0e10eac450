"""Payment routes (support service): provider webhooks, and the dev provider's checkout
page whose approve/decline buttons send a signed webhook through the same path."""

from __future__ import annotations

import html
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from admitone.core.http import Db, app_settings
from admitone.core.ids import OrderId
from admitone.orders import service as orders
from admitone.payments import dev
from admitone.payments import service as payments
from admitone.payments.schemas import DevOutcomeOut, WebhookResultOut

support_router = APIRouter(prefix="/payments", tags=["payments"])
# Mounted at the root only when ADMITONE_ENV=dev.
dev_router = APIRouter(prefix="/support/v1/payments/dev", tags=["development"])

ProviderName = Literal["dev", "paystack", "stripe"]
Reference = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9.=-]+$")]


@support_router.post(
    "/webhooks/{provider}",
    response_model=WebhookResultOut,
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
    return dev.webhook_result(applied)


# --- dev provider -------------------------------------------------------------------------


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
    found = db.query(dev.dev_checkout, app_settings(request), reference)
    payment, order, title = found.payment, found.order, found.event_title
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


def _answer(request: Request, result: dict[str, Any]) -> Any:
    """JSON for programs; a browser's form post goes back to its order page, as a real
    provider's checkout returns the buyer to the shop."""
    form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    if form and result.get("order_id"):
        order_id = OrderId(str(result["order_id"]))
        token = orders.order_token(app_settings(request), order_id)
        return RedirectResponse(f"/orders/{order_id}?token={token}", status_code=303)
    return result


@dev_router.post("/{reference}/approve", response_model=DevOutcomeOut)
def dev_approve(reference: Reference, request: Request, db: Db) -> Any:
    return _answer(
        request, dev.settle_dev_payment(db, app_settings(request), reference, "succeeded")
    )


@dev_router.post("/{reference}/decline", response_model=DevOutcomeOut)
def dev_decline(reference: Reference, request: Request, db: Db) -> Any:
    return _answer(request, dev.settle_dev_payment(db, app_settings(request), reference, "failed"))
