"""Payment routes (support service): provider webhooks, and the dev provider's checkout
page whose approve/decline buttons send a signed webhook through the same path."""

from __future__ import annotations

import html
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from admitone.core.http import Db, app_settings
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
<style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}
button{{font-size:1rem;padding:.5rem 1rem;margin-right:.5rem}}</style></head>
<body>
<h1>Dev checkout</h1>
<p>This page stands in for a payment provider. Nothing is charged.</p>
<dl>
<dt>Event</dt><dd>{title}</dd>
<dt>Order</dt><dd>{order_id} ({order_status})</dd>
<dt>Amount</dt><dd>{amount}</dd>
<dt>Reference</dt><dd>{reference}</dd>
<dt>Payment</dt><dd id="status">{status}</dd>
</dl>
<button id="approve">Approve</button><button id="decline">Decline</button>
<pre id="out"></pre>
<script>
for (const action of ["approve", "decline"]) {{
  document.getElementById(action).onclick = async () => {{
    const r = await fetch(location.pathname + "/" + action, {{method: "POST"}});
    document.getElementById("out").textContent = JSON.stringify(await r.json(), null, 2);
  }};
}}
</script>
</body></html>
"""


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
        )
    )


@dev_router.post("/{reference}/approve", response_model=DevOutcomeOut)
def dev_approve(reference: Reference, request: Request, db: Db) -> dict[str, Any]:
    return dev.settle_dev_payment(db, app_settings(request), reference, "succeeded")


@dev_router.post("/{reference}/decline", response_model=DevOutcomeOut)
def dev_decline(reference: Reference, request: Request, db: Db) -> dict[str, Any]:
    return dev.settle_dev_payment(db, app_settings(request), reference, "failed")
